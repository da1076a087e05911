// Printers for `kvplan fit`, `kvplan plan` and `kvplan compare`: JSON (schema_version 1) and tables.
#pragma once

#include <string>
#include <vector>

#include "core/estimate.h"
#include "core/fleet.h"
#include "report/estimate_report.h"

namespace kvplan {

Json fit_to_json(const Model& model, const Gpu& gpu, const MemoryOptions& opt, const FitResult& r);
std::string render_fit(const Model& model, const Gpu& gpu, const MemoryOptions& opt, const FitResult& r);

Json plan_to_json(const Model& model, const Gpu& gpu, const FleetPlan& p);
std::string render_plan(const Model& model, const Gpu& gpu, const FleetPlan& p);
// plan --simulate: latency percentiles, throughput and the queue of one simulated replica.
Json simulation_to_json(const PlanSimulation& s);
std::string render_simulation(const PlanSimulation& s);
// A line naming the run (model, engine, requests and arrivals): the queue plot's subtitle.
std::string simulation_caption(const Model& model, const PlanSimulation& s);

// One row per estimate: model, GPU, memory, fit, decode and cost at a glance.
std::string render_compare(const std::vector<Estimate>& rows);

}  // namespace kvplan
