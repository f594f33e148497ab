# mproc_target_setup(<target>): the one place where every mproc target (library, tests, examples,
# benchmarks) gets its language level, its warnings and its sanitizers. Per target, never through
# the global CMAKE_C_FLAGS, so a project embedding mproc keeps its own flags.
#
#   MPROC_WERROR     ON: warnings are errors (CI turns it on).
#   MPROC_SANITIZE   a list such as "address;undefined" or "thread"; empty: none.

function(mproc_target_setup target)
    set_target_properties(${target} PROPERTIES
        C_STANDARD 99
        C_STANDARD_REQUIRED ON
        C_EXTENSIONS OFF)

    if(MSVC)
        target_compile_options(${target} PRIVATE /W4 /permissive-)
        if(MPROC_WERROR)
            target_compile_options(${target} PRIVATE /WX)
        endif()
    else()
        target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic)
        if(MPROC_WERROR)
            target_compile_options(${target} PRIVATE -Werror)
        endif()
    endif()

    if(NOT MPROC_SANITIZE)
        return()
    endif()
    if(MSVC)
        if(MPROC_SANITIZE STREQUAL "address")
            target_compile_options(${target} PRIVATE /fsanitize=address)
        else()
            message(WARNING "mproc: MSVC supports only MPROC_SANITIZE=address; ignored for ${target}")
        endif()
    elseif(MINGW)
        message(WARNING "mproc: MinGW-w64 has no sanitizer runtime; MPROC_SANITIZE ignored for ${target}")
    else()
        list(JOIN MPROC_SANITIZE "," _mproc_san)
        # -fno-sanitize-recover: a finding fails the test instead of scrolling past.
        target_compile_options(${target} PRIVATE
            -fsanitize=${_mproc_san} -fno-sanitize-recover=all -fno-omit-frame-pointer -g)
        target_link_options(${target} PRIVATE -fsanitize=${_mproc_san})
    endif()
endfunction()
