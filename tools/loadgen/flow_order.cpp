#include "tools/loadgen/flow_order.h"

#include <cmath>
#include <random>

namespace fulcrum::loadgen {
namespace {

// Rejection-inversion sampling of Zipf(s) over 1..n; the helpers keep the integrals exact
// near s = 1 (log1p/expm1 forms).
class ZipfSampler {
 public:
  ZipfSampler(uint32_t n, double s) : n_(n), s_(s) {
    h_x1_ = h_integral(1.5) - 1.0;
    h_n_ = h_integral(double(n) + 0.5);
    cut_ = 2.0 - h_integral_inverse(h_integral(2.5) - h(2.0));
  }
  template <typename Rng>
  uint32_t operator()(Rng& rng) const {
    std::uniform_real_distribution<double> u01(0.0, 1.0);
    for (;;) {
      const double u = h_n_ + u01(rng) * (h_x1_ - h_n_);
      const double x = h_integral_inverse(u);
      double k = std::floor(x + 0.5);
      if (k < 1) k = 1;
      if (k > n_) k = n_;
      if (k - x <= cut_ || u >= h_integral(k + 0.5) - h(k)) return static_cast<uint32_t>(k);
    }
  }

 private:
  static double helper1(double x) { return std::fabs(x) > 1e-8 ? std::log1p(x) / x : 1.0 - x * (0.5 - x * (1.0 / 3.0 - 0.25 * x)); }
  static double helper2(double x) { return std::fabs(x) > 1e-8 ? std::expm1(x) / x : 1.0 + x * 0.5 * (1.0 + x / 3.0 * (1.0 + 0.25 * x)); }
  double h(double x) const { return std::exp(-s_ * std::log(x)); }
  double h_integral(double x) const {
    const double lx = std::log(x);
    return helper2((1.0 - s_) * lx) * lx;
  }
  double h_integral_inverse(double x) const {
    double t = x * (1.0 - s_);
    if (t < -1.0) t = -1.0;  // numerical safety at the far tail
    return std::exp(helper1(t) * x);
  }

  uint32_t n_;
  double s_, h_x1_, h_n_, cut_;
};

}  // namespace

std::vector<uint32_t> flow_order(uint32_t flows, Dist dist, double zipf_s, uint32_t length, uint32_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<uint32_t> order(length);
  if (dist == Dist::Uniform) {
    std::uniform_int_distribution<uint32_t> pick(0, flows - 1);
    for (auto& o : order) o = pick(rng);
    return order;
  }
  // 1,000,003 is prime: rank -> index is a bijection unless it divides the flow count.
  const uint64_t scatter = flows % 1000003 == 0 ? 1 : 1000003;
  ZipfSampler zipf(flows, zipf_s);
  for (auto& o : order) o = static_cast<uint32_t>((uint64_t{zipf(rng)} - 1) * scatter % flows);
  return order;
}

}  // namespace fulcrum::loadgen
