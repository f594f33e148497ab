# Runs one example and checks what it prints against what the seed says it should print.
#
#   cmake -DEXE=<path> -DNAME=<example> [-DEMULATOR=<wine64>] [-DTIMEOUT=<s>] [-DOUTPUT=<prefix>]
#         -P check_output.cmake
#
# EXE is the example's executable, NAME its file name without .c (the rules below are per name),
# EMULATOR the program that runs it (Wine for the MinGW build; a list such as "wine64;--flag" is
# fine). The output is kept in <prefix>.stdout and <prefix>.stderr (default prefix: NAME, in the
# current directory). Fails with a message and the program's whole output when a check does not
# hold.

cmake_minimum_required(VERSION 3.21)

if(NOT DEFINED EXE OR NOT DEFINED NAME)
    message(FATAL_ERROR "usage: cmake -DEXE=<path> -DNAME=<example> [-DEMULATOR=<program>] "
                        "-P check_output.cmake")
endif()
if(NOT DEFINED TIMEOUT)
    set(TIMEOUT 180)
endif()
if(NOT DEFINED OUTPUT)
    set(OUTPUT "${NAME}")
endif()

# Files, not pipes: Wine's server and its service processes, started by the first program of a
# run, inherit the program's stderr and keep it open until they exit, seconds after the last Wine
# program. Reading a pipe would wait for them; a file is complete once the program has ended.
execute_process(
    COMMAND ${EMULATOR} "${EXE}"
    RESULT_VARIABLE _rc
    OUTPUT_FILE "${OUTPUT}.stdout"
    ERROR_FILE "${OUTPUT}.stderr"
    TIMEOUT ${TIMEOUT})
file(READ "${OUTPUT}.stdout" _out)
file(READ "${OUTPUT}.stderr" _err)

# Windows writes \r\n; a list needs ; [ ] out of the way before the text is split into lines.
string(REPLACE "\r" "" _out "${_out}")
set(_text "${_out}")
string(REPLACE ";" "<semicolon>" _out "${_out}")
string(REPLACE "[" "<lbracket>" _out "${_out}")
string(REPLACE "]" "<rbracket>" _out "${_out}")
string(REPLACE "\n" ";" _lines "${_out}")

# fail(WHY): shows what the program printed, as it printed it, then stops with the reason.
function(fail why)
    message(NOTICE "--- ${NAME}: exit status ${_rc}\n"
                   "--- stdout:\n${_text}"
                   "--- stderr:\n${_err}"
                   "---")
    message(FATAL_ERROR "example ${NAME}: ${why}")
endfunction()

# lines_matching(VAR REGEX): the lines that match REGEX, in order.
function(lines_matching var regex)
    set(_found "")
    foreach(_l IN LISTS _lines)
        if(_l MATCHES "${regex}")
            list(APPEND _found "${_l}")
        endif()
    endforeach()
    set(${var} "${_found}" PARENT_SCOPE)
endfunction()

# expect_count(REGEX N): exactly N lines match.
function(expect_count regex n)
    lines_matching(_m "${regex}")
    list(LENGTH _m _len)
    if(NOT _len EQUAL n)
        fail("expected ${n} line(s) matching '${regex}', found ${_len}")
    endif()
endfunction()

# value_of(VAR REGEX): the first group of the one line that matches REGEX.
function(value_of var regex)
    expect_count("${regex}" 1)
    lines_matching(_m "${regex}")
    string(REGEX MATCH "${regex}" _ignored "${_m}")
    set(${var} "${CMAKE_MATCH_1}" PARENT_SCOPE)
endfunction()

# expect_between(WHAT VALUE LOW [HIGH]): LOW <= VALUE (< HIGH). if() compares as decimals.
function(expect_between what value low)
    if(value LESS low)
        fail("${what} is ${value}, expected at least ${low}")
    endif()
    if(ARGC GREATER 3 AND NOT value LESS ARGV3)
        fail("${what} is ${value}, expected less than ${ARGV3}")
    endif()
endfunction()

# expect_distinct_at_most(REGEX N): the first groups of the matching lines take at most N values
# (a Pool(5) runs its tasks in at most five processes).
function(expect_distinct_at_most regex n)
    lines_matching(_m "${regex}")
    set(_vals "")
    foreach(_l IN LISTS _m)
        string(REGEX MATCH "${regex}" _ignored "${_l}")
        list(APPEND _vals "${CMAKE_MATCH_1}")
    endforeach()
    list(REMOVE_DUPLICATES _vals)
    list(LENGTH _vals _len)
    if(_len GREATER n)
        fail("expected at most ${n} distinct value(s) in lines '${regex}', found ${_len}: ${_vals}")
    endif()
endfunction()

if(_rc STREQUAL "Process terminated due to timeout")
    fail("still running after ${TIMEOUT} s")
endif()
if(NOT _rc EQUAL 0)
    fail("exited with status ${_rc}, expected 0")
endif()

# Upper bounds that prove parallelism (run one after another, the ten 1 s waits take 10 s). Under
# an emulator every process start is slow (Wine: 0.1 to 0.4 s on a busy machine), so the bounds
# there are looser, yet still below 10 s.
if(EMULATOR)
    set(_parallel_max 9)
    set(_pool_parallel_max 9)
else()
    set(_parallel_max 5)
    set(_pool_parallel_max 6)
endif()

set(_num "([0-9]+)")
set(_secs "([0-9]+\\.?[0-9]*)")

if(NAME STREQUAL "process_hello")
    value_of(_main "^main pid: ${_num}$")
    expect_count("^hello bob run in [0-9]+ ppid: [0-9]+$" 10)
    # Every child names the parent as its parent, and each is a different process.
    expect_count("^hello bob run in [0-9]+ ppid: ${_main}$" 10)
    lines_matching(_hello "^hello bob run in ${_num} ppid")
    set(_pids "")
    foreach(_l IN LISTS _hello)
        string(REGEX MATCH "run in ${_num} " _ignored "${_l}")
        if(CMAKE_MATCH_1 STREQUAL _main)
            fail("a child printed the parent's own pid ${_main}")
        endif()
        list(APPEND _pids "${CMAKE_MATCH_1}")
    endforeach()
    list(REMOVE_DUPLICATES _pids)
    list(LENGTH _pids _n)
    if(NOT _n EQUAL 10)
        fail("expected 10 different child pids, found ${_n}")
    endif()
    expect_count("^run in main$" 1)
    value_of(_t "^spend time : ${_secs}$")
    # About 1 s: the ten 1 s sleeps ran in parallel.
    expect_between("spend time" "${_t}" 0.9 ${_parallel_max})

elseif(NAME STREQUAL "process_subclass")
    expect_count("^run in myProcess$" 1)
    expect_count("^myProcess exit code: 0$" 1)

elseif(NAME STREQUAL "process_calls")
    value_of(_main "^main   pid: ${_num} ppid: [0-9]+$")
    expect_count("^is_alive before start: 0$" 1)
    expect_count("^is_alive after start: 1 \\(child pid [0-9]+\\)$" 1)
    # The child prints itself unless terminate came first (a very slow start): optional, but
    # when there it names the parent.
    lines_matching(_child "^child  pid: ")
    if(_child AND NOT _child MATCHES "^child  pid: [0-9]+ ppid: ${_main}$")
        fail("the child's line does not name the parent ${_main} as its parent")
    endif()
    expect_count("^join\\(1000 ms\\): timed out, still running$" 1)
    expect_count("^is_alive after terminate and join: 0$" 1)
    expect_count("^exitcode: -15$" 1)

elseif(NAME STREQUAL "pool_apply")
    expect_count("^run in process: [0-9]+$" 10)
    expect_distinct_at_most("^run in process: ${_num}$" 5)
    value_of(_t "^main run done,spend_time: ${_secs}$")
    # Serial: ten 1 s tasks one after another.
    expect_between("spend_time" "${_t}" 9.5)

elseif(NAME STREQUAL "pool_apply_async")
    expect_count("^run in process: [0-9]+$" 10)
    expect_distinct_at_most("^run in process: ${_num}$" 5)
    value_of(_t "^main run done,spend_time: ${_secs}$")
    # Parallel: two rounds of five.
    expect_between("spend_time" "${_t}" 1.9 ${_pool_parallel_max})

elseif(NAME STREQUAL "pool_callback")
    expect_count("^run in process: [0-9]+$" 10)
    expect_distinct_at_most("^run in process: ${_num}$" 5)
    expect_count("^log done : filename$" 10)
    value_of(_t "^main run done,spend_time: ${_secs}$")
    expect_between("spend_time" "${_t}" 1.9 ${_pool_parallel_max})

elseif(NAME STREQUAL "queue_workers")
    # Every item reached exactly one worker and every result came back.
    expect_count("^sum of squares of 0\\.\\.99 = 328350$" 1)
    expect_count("^worker [0-9]+: [0-9]+ items$" 4)
    lines_matching(_workers "^worker [0-9]+: ${_num} items$")
    set(_items 0)
    foreach(_l IN LISTS _workers)
        string(REGEX MATCH ": ${_num} items" _ignored "${_l}")
        math(EXPR _items "${_items} + ${CMAKE_MATCH_1}")
    endforeach()
    if(NOT _items EQUAL 100)
        fail("the workers took ${_items} items, not 100")
    endif()

elseif(NAME STREQUAL "pool_map")
    expect_count("^map: sum of squares of 0\\.\\.99 = 328350$" 1)
    expect_count("^imap_unordered: [0-9]+ -> [0-9]+$" 10)
    foreach(_i RANGE 9)
        math(EXPR _sq "${_i} * ${_i}")
        expect_count("^imap_unordered: ${_i} -> ${_sq}$" 1)
    endforeach()
    expect_count("^imap_unordered: 10 results$" 1)

elseif(NAME STREQUAL "pool_errors")
    expect_count("^open_config failed: MPROC_ETASK, status 2: cannot open settings\\.ini$" 1)
    # abort() gives -SIGABRT on every platform.
    expect_count("^crash failed: MPROC_EWORKER_LOST, exit code -6$" 1)
    expect_count("^task 0: MPROC_ETASK$" 1)
    expect_count("^task 1: MPROC_EWORKER_LOST$" 1)
    expect_count("^the pool still works: answer 42$" 1)

elseif(NAME STREQUAL "progress")
    expect_count("^progress: 200000 of 200000 done, 0 failed$" 1)
    expect_count("^the counts add up: yes$" 1)
    # 199999 * 200000 * 399999 / 6
    expect_count("^sum of squares of 0\\.\\.199999 = 2666646666700000$" 1)
    # Not a terminal here: one line per 10 % on stderr, 10 % to 100 %, in order.
    string(REPLACE "\r" "" _e "${_err}")
    string(REGEX MATCHALL "progress: [0-9]+% \\([0-9]+/200000\\)" _steps "${_e}")
    list(LENGTH _steps _n)
    if(NOT _n EQUAL 10)
        fail("expected 10 progress lines on stderr, found ${_n}")
    endif()
    foreach(_k RANGE 1 10)
        math(EXPR _pct "${_k} * 10")
        if(NOT _e MATCHES "progress: ${_pct}% ")
            fail("no progress line for ${_pct} %")
        endif()
    endforeach()
elseif(NAME STREQUAL "pipe_pingpong")
    expect_count("^ping [0-9]+ -> pong [0-9]+$" 10)
    foreach(_i RANGE 9)
        math(EXPR _ping "${_i} * 10")
        math(EXPR _pong "${_ping} + 1")
        expect_count("^ping ${_ping} -> pong ${_pong}$" 1)
    endforeach()
    expect_count("^player answered 10 messages, then saw the end$" 1)
elseif(NAME STREQUAL "lock_counter")
    # Exact: no update lost, no child failed.
    expect_count("^counter: 80000 \\(expected 80000\\)$" 1)
    expect_count("^child " 0)

elseif(NAME STREQUAL "first_done")
    # Each of the ten reported once, in the order of their sleeps (150 ms apart, all begun at one
    # event: far more than the timer's resolution or a loaded machine's wake-up delay).
    expect_count("^done: process [0-9] \\(slept [0-9]+ ms\\), [0-9]+ of 10$" 10)
    lines_matching(_done "^done: process")
    set(_prev 0)
    foreach(_l IN LISTS _done)
        string(REGEX MATCH "slept ([0-9]+) ms" _ignored "${_l}")
        if(CMAKE_MATCH_1 LESS _prev)
            fail("reported out of order: ${_l} after a ${_prev} ms sleeper")
        endif()
        set(_prev ${CMAKE_MATCH_1})
    endforeach()

else()
    message(STATUS "example ${NAME}: no output rules; only its exit status (0) was checked")
endif()

message(STATUS "example ${NAME}: output as expected")
