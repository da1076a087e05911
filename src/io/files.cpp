#include "io/files.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "core/error.h"

namespace kvplan {

namespace fs = std::filesystem;

namespace {

// The files this process has read: write_text_file never replaces one of them.
std::set<fs::path>& inputs() {
  static std::set<fs::path> read;
  return read;
}

fs::path identity(const std::string& path) {
  std::error_code ec;
  const fs::path p = fs::weakly_canonical(path, ec);
  return ec ? fs::path(path) : p;
}

}  // namespace

std::string read_text_file(const std::string& path) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) throw Error("is a directory, not a file", {path, 0, 0});
  // Only regular files, and only as large as a model or deployment file can sensibly be: a device
  // (/dev/zero), a FIFO or a huge file would block or exhaust memory.
  constexpr std::uintmax_t kMaxBytes = 16u << 20;
  if (fs::exists(path, ec) && !fs::is_regular_file(path, ec))
    throw Error("not a regular file (a device, FIFO or socket)", {path, 0, 0});
  if (fs::exists(path, ec) && fs::file_size(path, ec) > kMaxBytes)
    throw Error("file is larger than 16 MiB; kvplan reads model, preset and deployment files only", {path, 0, 0});
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error("cannot open file: " + std::string(fs::exists(path, ec) ? "permission denied" : "no such file"), {path, 0, 0});
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) throw Error("cannot read file", {path, 0, 0});
  std::string text = ss.str();
  require_text(text, path);
  inputs().insert(identity(path));
  return text;
}

std::vector<std::string> yaml_files_in(const std::string& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return out;
  for (const auto& entry : fs::directory_iterator(dir, ec))
    if (entry.is_regular_file() && entry.path().extension() == ".yaml") out.push_back(entry.path().string());
  std::sort(out.begin(), out.end());
  return out;
}

bool is_regular_file(const std::string& path) {
  std::error_code ec;
  return fs::is_regular_file(path, ec);
}

void check_output_path(const std::string& path, const std::string& flag) {
  std::error_code ec;
  const fs::path p(path);
  if (fs::is_directory(p, ec)) throw Error(flag + ": is a directory; name the file to write", {path, 0, 0});
  const fs::path dir = p.has_parent_path() ? p.parent_path() : fs::path(".");
  if (!fs::is_directory(dir, ec)) throw Error(flag + ": the folder " + dir.string() + " does not exist", {path, 0, 0});
  if (inputs().count(identity(path)))
    throw Error(flag + ": will not overwrite a file this command read as input; write the output elsewhere", {path, 0, 0});
}

void write_text_file(const std::string& path, const std::string& text) {
  if (inputs().count(identity(path)))
    throw Error("will not overwrite a file this command read as input; write the output elsewhere", {path, 0, 0});
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) throw Error(std::string("cannot write file: ") + std::strerror(errno), {path, 0, 0});
  out.write(text.data(), static_cast<std::streamsize>(text.size()));
  out.close();
  if (!out) throw Error("cannot write file", {path, 0, 0});
}

}  // namespace kvplan
