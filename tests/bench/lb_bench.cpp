// lb-bench: the benchmarks whose figures the issues and docs/benchmarks.md quote.
//   lb-bench maglev [--json]      Maglev build time, balance, disruption
//   lb-bench dataplane [--json]   the real burst function on one core (Mpps, cycles/packet)
#include <CLI/CLI.hpp>

#include <iostream>

#include "tests/bench/dataplane_bench.h"
#include "tests/bench/maglev_bench.h"

int main(int argc, char** argv) {
  CLI::App app{"Fulcrum benchmarks"};
  app.require_subcommand(1);
  bool json = false;
  auto* maglev = app.add_subcommand("maglev", "Maglev table build time, balance and disruption");
  maglev->add_flag("--json", json, "print a JSON array");
  fulcrum::bench::DataplaneBenchOptions dp;
  auto* dataplane = app.add_subcommand("dataplane", "the burst function on synthetic 64-byte TCP packets, one core");
  dataplane->add_flag("--json", dp.json, "print JSON");
  dataplane->add_flag("--hugepages", dp.hugepages, "use hugepages (allocate ~1.5 GiB of 2 MiB pages first)");
  dataplane->add_option("--cpu", dp.cpu, "pin the worker to this CPU");
  dataplane->add_flag("--scaling", dp.scaling, "also measure 2 workers sharing the table");
  dataplane->add_option("--seconds", dp.seconds, "per measurement")->check(CLI::Range(0.1, 60.0));
  dataplane->add_option("--only", dp.only, "run one case")->check(CLI::IsMember({"baseline", "established", "syn", "synproxy_syn", "synproxy_established", "syn_schedulers",
                                                                                 "syn_maglev_bounded", "syn_round_robin", "syn_weighted_rr", "syn_least_conn",
                                                                                 "syn_fastest", "syn_limits"}));
  dataplane->add_option("--flows", dp.flows, "run one flow count")->check(CLI::Range(64u, 4000000u));
  dataplane->add_option("--family", dp.family, "run one address family's cases")->check(CLI::IsMember({"ipv4", "ipv6"}));
  CLI11_PARSE(app, argc, argv);
  if (maglev->parsed()) return fulcrum::bench::run_maglev(json, std::cout);
  if (dataplane->parsed()) return fulcrum::bench::run_dataplane(dp, std::cout);
  return 2;
}
