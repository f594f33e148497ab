/* The intrusive task list (tasklist.h): the one copy of the pool's queue appends and splices. */
#include "pool.h"

void mproc__tasks_append(mproc__task **head, mproc__task **tail, mproc__task *t)
{
    t->next = NULL;
    if (*tail != NULL)
        (*tail)->next = t;
    else
        *head = t;
    *tail = t;
}

mproc__task *mproc__tasks_pop(mproc__task **head, mproc__task **tail)
{
    mproc__task *t = *head;
    if (t == NULL)
        return NULL;
    *head = t->next;
    if (*head == NULL)
        *tail = NULL;
    t->next = NULL;
    return t;
}

void mproc__tasks_splice(mproc__task **head, mproc__task **tail, mproc__task *first,
                         mproc__task *last)
{
    if (first == NULL)
        return;
    if (*tail != NULL)
        (*tail)->next = first;
    else
        *head = first;
    *tail = last;
}

void mproc__tasks_prepend(mproc__task **head, mproc__task **tail, mproc__task *first,
                          mproc__task *last)
{
    if (first == NULL)
        return;
    last->next = *head;
    *head = first;
    if (*tail == NULL)
        *tail = last;
}

void mproc__tasks_unlink(mproc__task **head, mproc__task **tail, mproc__task *t, mproc__task *prev)
{
    if (prev == NULL)
        *head = t->next;
    else
        prev->next = t->next;
    if (*tail == t)
        *tail = prev;
    t->next = NULL;
}

void mproc__tasks_cut(mproc__task **head, mproc__task **tail, mproc__task *prev)
{
    if (prev != NULL)
        prev->next = NULL;
    else
        *head = NULL;
    *tail = prev;
}
