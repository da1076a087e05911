// Printers for `plan --disaggregate` (core/disaggregate.h): the prefill and decode pools, the KV
// transfer between them, and the split of GPUs.
#pragma once

#include <string>

#include "core/disaggregate.h"
#include "report/estimate_report.h"

namespace kvplan {

Json disaggregation_to_json(const DisaggPlan& p);
std::string render_disaggregation(const DisaggPlan& p);

}  // namespace kvplan
