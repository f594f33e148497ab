# mproc_pkgconfig_file(<output>): writes mproc.pc for this build from cmake/mproc.pc.in.
#
# The file is relocatable: prefix is found from the .pc file's own place (${pcfiledir}, which
# pkg-config and pkgconf both define), so `cmake --install <dir> --prefix <anywhere>` gives a
# file that is right wherever it lands.
#
#   shared build   Cflags: -DMPROC_SHARED (the header then declares the calls dllimport on Windows)
#   static build   Libs.private: what libmproc.a needs besides (-pthread and -ldl on POSIX); use
#                  `pkg-config --static --libs mproc` to get them.

# mproc_pkgconfig_dirs(): sets MPROC_PC_PREFIX, MPROC_PC_LIBDIR and MPROC_PC_INCLUDEDIR, the
# places a .pc file names (mproc.pc here, mproc-mpi.pc in MprocMpi.cmake), in the caller's scope.
macro(mproc_pkgconfig_dirs)
    # ${pcfiledir} -> the install prefix, as a path relative to the .pc file's directory.
    set(_pcdir "${MPROC_INSTALL_PKGCONFIGDIR}")
    if(IS_ABSOLUTE "${_pcdir}")
        set(MPROC_PC_PREFIX "${CMAKE_INSTALL_PREFIX}")
    else()
        file(RELATIVE_PATH _rel "/mproc-prefix/${_pcdir}" "/mproc-prefix")
        string(REGEX REPLACE "/$" "" _rel "${_rel}")
        set(MPROC_PC_PREFIX "\${pcfiledir}/${_rel}")
    endif()
    foreach(_dir LIBDIR INCLUDEDIR)
        if(IS_ABSOLUTE "${CMAKE_INSTALL_${_dir}}")
            set(MPROC_PC_${_dir} "${CMAKE_INSTALL_${_dir}}")
        else()
            set(MPROC_PC_${_dir} "\${prefix}/${CMAKE_INSTALL_${_dir}}")
        endif()
    endforeach()
endmacro()

function(mproc_pkgconfig_file output)
    mproc_pkgconfig_dirs()

    set(MPROC_PC_CFLAGS "")
    get_target_property(_type mproc TYPE)
    if(_type STREQUAL "SHARED_LIBRARY")
        set(MPROC_PC_CFLAGS " -DMPROC_SHARED")
    endif()

    # What the library links privately (the same as target_link_libraries(mproc PRIVATE ...)).
    set(MPROC_PC_LIBS_PRIVATE "")
    if(NOT WIN32)
        set(MPROC_PC_LIBS_PRIVATE "-pthread")
        foreach(_lib IN LISTS CMAKE_DL_LIBS)
            string(APPEND MPROC_PC_LIBS_PRIVATE " -l${_lib}")
        endforeach()
    endif()

    configure_file("${PROJECT_SOURCE_DIR}/cmake/mproc.pc.in" "${output}" @ONLY)
endfunction()
