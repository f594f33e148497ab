/* The intrusive task list: a queue of tasks linked through their next field, held as a head
 * and a tail pointer by its owner (the pool's queues, a worker's in-flight list). */
#ifndef MPROC_TASKLIST_H
#define MPROC_TASKLIST_H

struct mproc__task;

/* Puts t at the back. */
void mproc__tasks_append(struct mproc__task **head, struct mproc__task **tail,
                         struct mproc__task *t);
/* Takes the front task, or NULL when the list is empty; the task comes out unlinked. */
struct mproc__task *mproc__tasks_pop(struct mproc__task **head, struct mproc__task **tail);
/* Puts the chain first..last (linked, last->next NULL) at the back; first NULL: nothing. */
void mproc__tasks_splice(struct mproc__task **head, struct mproc__task **tail,
                         struct mproc__task *first, struct mproc__task *last);
/* Puts the chain first..last at the front, in order; first NULL: nothing. */
void mproc__tasks_prepend(struct mproc__task **head, struct mproc__task **tail,
                          struct mproc__task *first, struct mproc__task *last);
/* Unlinks t, whose predecessor is prev (NULL: t is the head). */
void mproc__tasks_unlink(struct mproc__task **head, struct mproc__task **tail,
                         struct mproc__task *t, struct mproc__task *prev);
/* Ends the list at prev (NULL: empties it); what followed prev is the caller's. */
void mproc__tasks_cut(struct mproc__task **head, struct mproc__task **tail,
                      struct mproc__task *prev);

#endif
