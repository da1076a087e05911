# Writes what kvplan installs beside itself from the built binary: the bash, zsh and fish
# completions (`kvplan completion SHELL`) and, where Python is found, the man page
# (scripts/gen-man.py). Run as: cmake -DKVPLAN=... -DPYTHON=... -DSOURCE_DIR=... -DOUT_DIR=... -P gen_share.cmake
file(MAKE_DIRECTORY ${OUT_DIR})
foreach(pair IN ITEMS "bash=kvplan.bash" "zsh=_kvplan" "fish=kvplan.fish")
  string(REPLACE "=" ";" pair "${pair}")
  list(GET pair 0 shell)
  list(GET pair 1 name)
  execute_process(COMMAND ${KVPLAN} completion ${shell} OUTPUT_FILE ${OUT_DIR}/${name} RESULT_VARIABLE status)
  if(NOT status EQUAL 0)
    message(FATAL_ERROR "`kvplan completion ${shell}` failed (${status})")
  endif()
endforeach()
if(PYTHON)
  execute_process(COMMAND ${PYTHON} ${SOURCE_DIR}/scripts/gen-man.py ${KVPLAN} ${OUT_DIR}/kvplan.1 RESULT_VARIABLE status)
  if(NOT status EQUAL 0)
    message(FATAL_ERROR "scripts/gen-man.py failed (${status})")
  endif()
endif()
