# The MPI component: library mproc_mpi (target mproc::mpi), from MPROC_SOURCES_MPI, built when
# MPROC_WITH_MPI is ON, or AUTO (the default) and find_package(MPI) finds a C MPI. The core
# library never links MPI. Installed: include/mproc_mpi.h, the library, its targets file
# (mproc-mpi-<static|shared>-targets.cmake, found with find_package(mproc COMPONENTS mpi)) and
# lib/pkgconfig/mproc-mpi.pc.
set(MPROC_WITH_MPI AUTO CACHE STRING "Build the mproc_mpi component: AUTO (when MPI is found), ON, OFF")
set_property(CACHE MPROC_WITH_MPI PROPERTY STRINGS AUTO ON OFF)

set(MPROC_HAVE_MPI OFF)
if(NOT MPROC_WITH_MPI STREQUAL "OFF" AND NOT WIN32)
    if(MPROC_WITH_MPI STREQUAL "ON")
        find_package(MPI REQUIRED COMPONENTS C)
    else()
        find_package(MPI QUIET COMPONENTS C)
    endif()
    if(MPI_C_FOUND)
        set(MPROC_HAVE_MPI ON)
    endif()
elseif(MPROC_WITH_MPI STREQUAL "ON")
    message(FATAL_ERROR "mproc: MPROC_WITH_MPI=ON, but the MPI component is POSIX only")
endif()

if(MPROC_HAVE_MPI)
    set(_mproc_mpi_sources)
    foreach(_f IN LISTS MPROC_SOURCES_MPI MPROC_HEADERS_MPI MPROC_HEADERS_PUBLIC_MPI)
        list(APPEND _mproc_mpi_sources "${PROJECT_SOURCE_DIR}/${_f}")
    endforeach()
    add_library(mproc_mpi ${_mproc_mpi_sources})
    add_library(mproc::mpi ALIAS mproc_mpi)
    target_include_directories(mproc_mpi
        PUBLIC
            "$<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/include>"
            "$<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>"
        PRIVATE
            "${PROJECT_SOURCE_DIR}/src")
    # PUBLIC: a program that includes mproc_mpi.h calls MPI itself (MPI_Init, MPI_Comm_*).
    target_link_libraries(mproc_mpi PUBLIC mproc::mproc MPI::MPI_C PRIVATE Threads::Threads)
    set_target_properties(mproc_mpi PROPERTIES
        C_VISIBILITY_PRESET hidden
        POSITION_INDEPENDENT_CODE ON
        EXPORT_NAME mpi)
    get_target_property(_mproc_mpi_type mproc_mpi TYPE)
    if(_mproc_mpi_type STREQUAL "SHARED_LIBRARY")
        set_target_properties(mproc_mpi PROPERTIES
            VERSION ${PROJECT_VERSION}
            SOVERSION ${PROJECT_VERSION_MAJOR})
    endif()
    mproc_target_setup(mproc_mpi)
    message(STATUS "mproc: the MPI component (mproc_mpi) is built, with ${MPI_C_LIBRARIES}")
else()
    message(STATUS "mproc: no MPI component (MPROC_WITH_MPI=${MPROC_WITH_MPI}; MPI found: ${MPI_C_FOUND})")
endif()

# mproc_mpi_install(): install rules, the component's targets file and mproc-mpi.pc.
function(mproc_mpi_install)
    if(NOT MPROC_HAVE_MPI)
        return()
    endif()
    install(TARGETS mproc_mpi EXPORT mprocMpiTargets
        ARCHIVE DESTINATION "${CMAKE_INSTALL_LIBDIR}"
        LIBRARY DESTINATION "${CMAKE_INSTALL_LIBDIR}"
        RUNTIME DESTINATION "${CMAKE_INSTALL_BINDIR}"
        INCLUDES DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}")
    install(FILES "${PROJECT_SOURCE_DIR}/include/mproc_mpi.h"
            DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}")
    install(EXPORT mprocMpiTargets
        NAMESPACE mproc::
        FILE mproc-mpi-${MPROC_LIBRARY_KIND}-targets.cmake
        DESTINATION "${MPROC_INSTALL_CMAKEDIR}")

    # pkg-config: mproc-mpi requires mproc, and names the MPI flags CMake found.
    set(MPROC_PC_MPI_CFLAGS "")
    foreach(_d IN LISTS MPI_C_INCLUDE_DIRS)
        string(APPEND MPROC_PC_MPI_CFLAGS " -I${_d}")
    endforeach()
    set(MPROC_PC_MPI_LIBS "")
    foreach(_l IN LISTS MPI_C_LIBRARIES)
        string(APPEND MPROC_PC_MPI_LIBS " ${_l}")
    endforeach()
    mproc_pkgconfig_dirs() # MprocPkgConfig.cmake, included before this runs
    configure_file("${PROJECT_SOURCE_DIR}/cmake/mproc-mpi.pc.in"
                   "${PROJECT_BINARY_DIR}/mproc-mpi.pc" @ONLY)
    install(FILES "${PROJECT_BINARY_DIR}/mproc-mpi.pc" DESTINATION "${MPROC_INSTALL_PKGCONFIGDIR}")
endfunction()
