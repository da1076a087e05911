// Shell completion scripts (bash, zsh, fish) rendered from a plain description of the command
// line, which `kvplan completion` reads off the CLI11 app itself, so the scripts cannot drift.
#pragma once

#include <string>
#include <vector>

namespace kvplan {

// What completes where a value is expected: a fixed set of choices, or the names that
// `kvplan list LIST --format ids` prints at completion time, and/or paths.
struct CompletionValues {
  std::vector<std::string> choices;
  std::vector<std::string> lists;  // "models", "gpus", "engines", "nodes"
  bool files = false;
  bool dirs = false;
};

struct CompletionOption {
  std::vector<std::string> names;  // "--model", "-m": every spelling
  std::string description;
  bool takes_value = false;
  CompletionValues values;
};

struct CompletionCommand {
  std::string name;  // empty for kvplan itself
  std::string description;
  std::vector<CompletionOption> options;  // the command's own and, for a subcommand, the global ones it accepts
  bool takes_positionals = false;
  CompletionValues positionals;
};

// The whole command line: kvplan's global options, then one entry per subcommand.
struct CompletionSpec {
  CompletionCommand root;
  std::vector<CompletionCommand> subcommands;
};

std::string bash_completion(const CompletionSpec& spec);  // `complete -F _kvplan kvplan`
std::string zsh_completion(const CompletionSpec& spec);   // `#compdef kvplan`, _arguments
std::string fish_completion(const CompletionSpec& spec);  // `complete -c kvplan ...`

}  // namespace kvplan
