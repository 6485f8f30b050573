# padim_install.cmake - padim-gpu as an installed library (included by CMakeLists.txt):
#   bin/padim-gpu, lib/libpadim.so.<soversion> (only the padim.h API exported: a version
#   script generated from padim.h hides everything else), lib/libpadim.a, include/padim.h,
#   lib/pkgconfig/padim.pc (relocatable: paths from ${pcfiledir}), lib/cmake/padim/
#   (find_package(padim): padim::padim shared, padim::padim_static), share/padim-gpu/
#   {configs,weights}; and the Debian package (cpack -G DEB, dependencies from dpkg-shlibdeps).
include(GNUInstallDirs)

set(PADIM_SOVERSION 0)

# Exported symbols: every function name declared in padim.h (name followed by '(').
file(READ ${CMAKE_SOURCE_DIR}/src/host/padim.h PADIM_PUBLIC_HEADER)
string(REGEX MATCHALL "padim_[a-z0-9_]+\\(" PADIM_PUBLIC_CALLS "${PADIM_PUBLIC_HEADER}")
list(TRANSFORM PADIM_PUBLIC_CALLS REPLACE "\\($" "")
list(REMOVE_DUPLICATES PADIM_PUBLIC_CALLS)
list(SORT PADIM_PUBLIC_CALLS)
list(JOIN PADIM_PUBLIC_CALLS ";\n    " PADIM_EXPORTS)
set(PADIM_VERSION_SCRIPT ${CMAKE_BINARY_DIR}/padim.map)
file(WRITE ${PADIM_VERSION_SCRIPT}.in "PADIM_${PADIM_SOVERSION} {\n  global:\n    ${PADIM_EXPORTS};\n  local: *;\n};\n")
configure_file(${PADIM_VERSION_SCRIPT}.in ${PADIM_VERSION_SCRIPT} COPYONLY)
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/src/host/padim.h)

# The shared library: the whole static library linked in, exports limited by the script.
add_library(padim_shared SHARED ${CMAKE_SOURCE_DIR}/cmake/shared_stub.c)
target_compile_options(padim_shared PRIVATE ${PADIM_WARNINGS})
target_link_libraries(padim_shared PRIVATE "$<LINK_LIBRARY:WHOLE_ARCHIVE,padim>")
target_link_options(padim_shared PRIVATE "LINKER:--version-script=${PADIM_VERSION_SCRIPT}"
                    "LINKER:--no-undefined")
set_target_properties(padim_shared PROPERTIES OUTPUT_NAME padim VERSION ${PROJECT_VERSION}
                      SOVERSION ${PADIM_SOVERSION} LINK_DEPENDS ${PADIM_VERSION_SCRIPT})

# Link lines of the static library for consumers (pkg-config Libs.private, CMake package).
set(PADIM_STATIC_LIBS ${DEPS_LINK_LIBRARIES} ${PADIM_DNNL_LIB} ${OpenMP_C_LIBRARIES} ${MATH_LIB})
if(PADIM_CUDA)
  foreach(t CUDA::cudart CUDA::cublas CUDA::cusolver)
    get_target_property(loc ${t} IMPORTED_LOCATION)
    if(loc)
      list(APPEND PADIM_STATIC_LIBS ${loc})
    endif()
  endforeach()
  list(APPEND PADIM_STATIC_LIBS ${CUDNN_LIB} stdc++)
endif()
set(PADIM_PC_LIBS_PRIVATE "")
if(PADIM_CUDA)
  set(PADIM_PC_LIBS_PRIVATE " \${libdir}/libpadim_kernels.a")
endif()
foreach(l ${PADIM_STATIC_LIBS})
  if(l MATCHES "^/")
    string(APPEND PADIM_PC_LIBS_PRIVATE " ${l}")
  else()
    string(APPEND PADIM_PC_LIBS_PRIVATE " -l${l}")
  endif()
endforeach()
string(APPEND PADIM_PC_LIBS_PRIVATE " -fopenmp")
configure_file(${CMAKE_SOURCE_DIR}/cmake/padim.pc.in ${CMAKE_BINARY_DIR}/padim.pc @ONLY)
configure_file(${CMAKE_SOURCE_DIR}/cmake/padimConfig.cmake.in ${CMAKE_BINARY_DIR}/padimConfig.cmake @ONLY)
include(CMakePackageConfigHelpers)
write_basic_package_version_file(${CMAKE_BINARY_DIR}/padimConfigVersion.cmake
                                 VERSION ${PROJECT_VERSION} COMPATIBILITY SameMajorVersion)

install(TARGETS padim-gpu RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(TARGETS padim_shared LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(TARGETS padim ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR})
if(PADIM_CUDA)
  install(TARGETS padim_kernels ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR})
endif()
install(FILES ${CMAKE_SOURCE_DIR}/src/host/padim.h DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(FILES ${CMAKE_BINARY_DIR}/padim.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
install(FILES ${CMAKE_BINARY_DIR}/padimConfig.cmake ${CMAKE_BINARY_DIR}/padimConfigVersion.cmake
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/padim)
install(DIRECTORY ${CMAKE_SOURCE_DIR}/configs DESTINATION ${CMAKE_INSTALL_DATADIR}/padim-gpu)
install(FILES ${CMAKE_SOURCE_DIR}/weights/resnet18_tv_in1k.safetensors ${CMAKE_SOURCE_DIR}/weights/README.md
        DESTINATION ${CMAKE_INSTALL_DATADIR}/padim-gpu/weights)

# Debian package: cpack -G DEB in the build folder -> padim-gpu_<version>_amd64.deb.
set(CPACK_PACKAGE_NAME padim-gpu)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "padim-gpu maintainers <padim-gpu@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "Fast, exact PaDiM anomaly detection (CLI, C library)")
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION science)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
if(PADIM_CUDA)
  # The CUDA libraries come from NVIDIA's installer, not from Debian packages: let
  # dpkg-shlibdeps resolve them from the toolkit folder without package information.
  set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS_PRIVATE_DIRS ${CUDAToolkit_LIBRARY_DIR} ${CMAKE_BINARY_DIR})
else()
  set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS_PRIVATE_DIRS ${CMAKE_BINARY_DIR})
endif()
include(CPack)
