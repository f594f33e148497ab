# The `docs` target: the API reference, HTML, from the Doxygen comments of the public headers
# (MPROC_HEADERS_PUBLIC) and docs/guide.md as a page, into <build>/docs/html. Warnings are errors
# (WARN_AS_ERROR), so an undocumented declaration, parameter or return value fails the target.
#
#   cmake --build <dir> --target docs        (Debian: apt-get install doxygen)
#
# Not part of `all`. Without doxygen the target exists and fails with the command to install it.

find_package(Doxygen QUIET)

if(DOXYGEN_FOUND)
    set(MPROC_DOCS_OUTPUT_DIR "${PROJECT_BINARY_DIR}/docs")
    set(MPROC_DOCS_INPUT "")
    set(_mproc_docs_depends "")
    # The MPI component's header too (MPROC_HEADERS_PUBLIC_MPI): documented whether built or not.
    foreach(_mproc_header IN LISTS MPROC_HEADERS_PUBLIC MPROC_HEADERS_PUBLIC_MPI)
        string(APPEND MPROC_DOCS_INPUT " \"${PROJECT_SOURCE_DIR}/${_mproc_header}\"")
        list(APPEND _mproc_docs_depends "${PROJECT_SOURCE_DIR}/${_mproc_header}")
    endforeach()
    configure_file("${PROJECT_SOURCE_DIR}/docs/Doxyfile.in" "${MPROC_DOCS_OUTPUT_DIR}/Doxyfile"
                   @ONLY)
    add_custom_target(docs
        COMMAND Doxygen::doxygen "${MPROC_DOCS_OUTPUT_DIR}/Doxyfile"
        WORKING_DIRECTORY "${PROJECT_SOURCE_DIR}"
        DEPENDS ${_mproc_docs_depends} "${PROJECT_SOURCE_DIR}/docs/guide.md"
                "${MPROC_DOCS_OUTPUT_DIR}/Doxyfile"
        COMMENT "Doxygen: the API reference in ${MPROC_DOCS_OUTPUT_DIR}/html/index.html"
        VERBATIM)
else()
    add_custom_target(docs
        COMMAND "${CMAKE_COMMAND}" -E echo
                "docs: doxygen not found (Debian: apt-get install doxygen), then reconfigure"
        COMMAND "${CMAKE_COMMAND}" -E false
        VERBATIM)
endif()
