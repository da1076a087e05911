// Speculative drafters in the speculators format (RedHatAI's speculator checkpoints): a config.json
// without a model_type, whose speculators_model_type names the algorithm.
#include "io/hf/families.h"

#include "core/checked.h"

namespace kvplan::hf {

// EAGLE-3 (speculators_model_type eagle3), as vLLM builds it (vllm/model_executor/models/
// llama_eagle3.py, Eagle3LlamaForCausalLM): transformer_layer_config's num_hidden_layers Llama
// decoder layers, the first reading 2 x hidden (the embedding and the hidden state concatenated)
// and holding a third norm (hidden_norm); fc, a replicated linear from 3 x target_hidden_size
// (null: hidden_size) to hidden_size; the final norm; its own lm_head of draft_vocab_size rows
// (absent: the target's vocab_size). The embedding is the target's, shared.
Model speculator(const Config& top) {
  const std::string type = top.string("speculators_model_type", "");
  if (type != "eagle3")
    throw top.fail("speculators_model_type '" + type + "' is not modelled (kvplan reads eagle3 drafters)");
  const Config c = top.object("transformer_layer_config");
  const std::string layer_type = c.string("model_type", "llama");
  if (layer_type != "llama")
    throw top.fail("an eagle3 drafter's transformer_layer_config has model_type '" + layer_type +
                   "': kvplan reads Llama decoder layers (as vLLM's Eagle3LlamaForCausalLM builds them)");
  Model m = start_model(top, c, "eagle3", false);
  m.tie_word_embeddings = false;
  m.head_vocab_size = top.has("draft_vocab_size") ? top.integer("draft_vocab_size", 0) : m.vocab_size;
  const int64_t target_hidden = top.has("target_hidden_size") ? top.integer("target_hidden_size", 0) : m.hidden_size;
  if (m.head_vocab_size <= 0) throw top.fail("field 'draft_vocab_size' must be positive");
  if (target_hidden <= 0) throw top.fail("field 'target_hidden_size' must be positive");
  m.head_fc_inputs = mul(3, target_hidden);
  Attention a = gqa(c, m.hidden_size);
  a.qkv_bias = c.boolean("attention_bias", false);
  a.o_bias = a.qkv_bias;
  const DenseMlp mlp{c.integer("intermediate_size"), true, c.boolean("mlp_bias", false)};
  const int64_t layers = layer_count(c);
  for (int64_t i = 0; i < layers; ++i) {
    Attention first = a;
    if (i == 0) first.input_size = mul(2, m.hidden_size);
    m.layers.push_back(make_layer("eagle3", first, mlp, i == 0 ? 3 : 2));
  }
  return m;
}

}  // namespace kvplan::hf
