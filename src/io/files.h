// The only place kvplan touches the disk for input.
#pragma once

#include <string>
#include <vector>

namespace kvplan {

// Whole file as text; throws kvplan::Error naming the path if it cannot be read.
std::string read_text_file(const std::string& path);
// Paths of the *.yaml files directly inside dir, sorted; empty if dir does not exist.
std::vector<std::string> yaml_files_in(const std::string& dir);
bool is_regular_file(const std::string& path);
// Throws kvplan::Error (naming `flag`) unless `path` can be written: its folder exists, it is not a
// folder, and it is not a file the process read as input. Checked before long work.
void check_output_path(const std::string& path, const std::string& flag);
// Writes text to path (reports, plots); throws kvplan::Error naming the path on failure, and
// when the path is a file the process has read (an output never replaces an input).
void write_text_file(const std::string& path, const std::string& text);

}  // namespace kvplan
