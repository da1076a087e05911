// vLLM's --limit-mm-per-prompt in both spellings the engine has taken, and its errors.
#include <catch2/catch.hpp>

#include "core/error.h"
#include "io/mm_limits.h"

using namespace kvplan;

TEST_CASE("mm limits: JSON and modality=count, a count or an object with one", "[io][multimodal]") {
  const std::string flag = "--limit-mm-per-prompt";
  CHECK(parse_mm_limits(R"({"image": 0, "video": 0})", flag) == std::map<std::string, int64_t>{{"image", 0}, {"video", 0}});
  CHECK(parse_mm_limits("image=4,video=1", flag) == std::map<std::string, int64_t>{{"image", 4}, {"video", 1}});
  // vLLM's newer form: a dummy item's size beside its count (the size is not modelled).
  CHECK(parse_mm_limits(R"({"video": {"count": 1, "num_frames": 8, "width": 512, "height": 512}})", flag) ==
        std::map<std::string, int64_t>{{"video", 1}});
  CHECK_THROWS_WITH(parse_mm_limits("imag=0", flag),
                    "--limit-mm-per-prompt: unknown modality 'imag' (image, video or audio); did you mean 'image'?");
  CHECK_THROWS_WITH(parse_mm_limits("image=-1", flag), "--limit-mm-per-prompt: 'image' must be a whole number >= 0, got '-1'");
  CHECK_THROWS_WITH(parse_mm_limits(R"({"image": 1.5})", flag),
                    "--limit-mm-per-prompt: 'image' must be a whole number >= 0 (or an object with \"count\")");
  CHECK_THROWS_WITH(parse_mm_limits("{image: 0}", flag),
                    "--limit-mm-per-prompt: not a JSON object, got '{image: 0}' (e.g. '{\"image\": 0, \"video\": 0}')");
  CHECK_THROWS_WITH(parse_mm_limits("", flag),
                    "--limit-mm-per-prompt: expected a JSON object or modality=count pairs (image=4,video=1), got ''");
  CHECK_THROWS_WITH(parse_mm_limits("image=1,", flag),
                    "--limit-mm-per-prompt: expected a JSON object or modality=count pairs (image=4,video=1), got 'image=1,'");
}
