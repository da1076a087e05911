// Printers for `plan --disaggregate` (core/disaggregate.h): the prefill and decode pools, the KV
// transfer between them, the split of GPUs, and the choice against colocated serving.
#pragma once

#include <string>

#include "core/disaggregate.h"
#include "report/estimate_report.h"

namespace kvplan {

// With the colocated plan beside it: which of the two serves (serving_choice), and why.
Json disaggregation_to_json(const DisaggPlan& p, const FleetPlan& colocated);
std::string render_disaggregation(const DisaggPlan& p, const FleetPlan& colocated);

}  // namespace kvplan
