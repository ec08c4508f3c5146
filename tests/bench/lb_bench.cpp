// lb-bench: the benchmarks whose figures the issues and docs/benchmarks.md quote.
//   lb-bench maglev [--json]      Maglev build time, balance, disruption
//   lb-bench dataplane [--json]   the real burst function on one core (Mpps, cycles/packet)
#include <CLI/CLI.hpp>

#include <iostream>

#include "tests/bench/maglev_bench.h"

int main(int argc, char** argv) {
  CLI::App app{"Fulcrum benchmarks"};
  app.require_subcommand(1);
  bool json = false;
  auto* maglev = app.add_subcommand("maglev", "Maglev table build time, balance and disruption");
  maglev->add_flag("--json", json, "print a JSON array");
  CLI11_PARSE(app, argc, argv);
  if (maglev->parsed()) return fulcrum::bench::run_maglev(json, std::cout);
  return 2;
}
