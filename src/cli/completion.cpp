// `kvplan completion bash|zsh|fish`: a shell completion script read off kvplan's own options, so
// it completes exactly what this kvplan accepts. main sets up every subcommand for it.
#include <memory>
#include <string>
#include <vector>

#include "cli/subcommands.h"
#include "report/completion.h"

namespace kvplan::cli {

namespace {

std::vector<std::string> split(const std::string& text, char sep) {
  std::vector<std::string> parts;
  size_t begin = 0;
  for (size_t end; (end = text.find(sep, begin)) != std::string::npos; begin = end + 1)
    parts.push_back(text.substr(begin, end - begin));
  parts.push_back(text.substr(begin));
  return parts;
}

// What completes a value, from its type name in the help: a choice check shows as TEXT:{a,b,c}
// (CLI::IsMember, one_of); ids and paths are typed MODEL, GPU, ENGINE, NODE, FILE or DIR (MODEL|GPU: either).
CompletionValues values_of(const CLI::Option* o) {
  CompletionValues v;
  const std::string type = o->get_type_name();
  const size_t open = type.find('{'), close = type.find('}', open);
  if (open != std::string::npos && close != std::string::npos)
    v.choices = split(type.substr(open + 1, close - open - 1), ',');
  for (const std::string& kind : split(type.substr(0, type.find(':')), '|')) {
    if (kind == "MODEL" || kind == "GPU" || kind == "NODE") v.files = true;  // a model or preset may be given as a file
    if (kind == "MODEL") v.lists.push_back("models");
    if (kind == "GPU") v.lists.push_back("gpus");
    if (kind == "ENGINE") v.lists.push_back("engines");
    if (kind == "NODE") v.lists.push_back("nodes");
    if (kind == "FILE") v.files = true;
    if (kind == "DIR") v.dirs = true;
  }
  return v;
}

CompletionCommand command_of(const CLI::App& app) {
  CompletionCommand c;
  c.name = app.get_parent() ? app.get_name() : "";
  c.description = app.get_description();
  for (const CLI::Option* o : app.get_options()) {
    if (!o->nonpositional()) {
      c.takes_positionals = true;
      c.positionals = values_of(o);
      continue;
    }
    CompletionOption option;
    for (const std::string& n : o->get_lnames()) option.names.push_back("--" + n);
    for (const std::string& n : o->get_snames()) option.names.push_back("-" + n);
    option.description = o->get_description();
    option.takes_value = o->get_expected_max() != 0;  // flags expect no value (their type size is not 0)
    if (option.takes_value) option.values = values_of(o);
    c.options.push_back(option);
  }
  return c;
}

// kvplan and every subcommand; a subcommand also takes kvplan's options it lacks (fallthrough).
CompletionSpec spec_of(const CLI::App& root) {
  CompletionSpec spec;
  spec.root = command_of(root);
  for (const CLI::App* sub : root.get_subcommands([](const CLI::App*) { return true; })) {
    CompletionCommand c = command_of(*sub);
    for (const CompletionOption& global : spec.root.options)
      if (!sub->get_option_no_throw(global.names.front())) c.options.push_back(global);
    spec.subcommands.push_back(c);
  }
  return spec;
}

}  // namespace

void setup_completion(CLI::App* sub, Globals&) {
  auto shell = std::make_shared<std::string>();
  sub->add_option("shell", *shell, "bash, zsh or fish")->required()->check(one_of({"bash", "zsh", "fish"}));
  sub->callback([shell, sub] {
    const CompletionSpec spec = spec_of(*sub->get_parent());
    print(*shell == "bash" ? bash_completion(spec) : *shell == "zsh" ? zsh_completion(spec) : fish_completion(spec));
  });
}

}  // namespace kvplan::cli
