# Writers under disk faults and SIGKILL: an LD_PRELOAD fault injector (tests/fault/inject.c)
# and a script that runs fit / score / eval / bench under it (tests/test_fault_writers.sh).
add_library(padim_fault_inject SHARED ${CMAKE_SOURCE_DIR}/tests/fault/inject.c)
target_compile_options(padim_fault_inject PRIVATE ${PADIM_WARNINGS})
target_link_libraries(padim_fault_inject PRIVATE ${CMAKE_DL_LIBS})
set_target_properties(padim_fault_inject PROPERTIES PREFIX "" OUTPUT_NAME padim_fault_inject)
add_test(NAME fault_writers
         COMMAND ${CMAKE_SOURCE_DIR}/tests/test_fault_writers.sh $<TARGET_FILE:padim-gpu>
                 $<TARGET_FILE:padim_fault_inject>)
set_tests_properties(fault_writers PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 900 LABELS slow)
