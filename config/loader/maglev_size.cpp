#include "config/loader/maglev_size.h"

namespace fulcrum::config {
namespace {

uint64_t mul_mod(uint64_t a, uint64_t b, uint64_t m) {
  return static_cast<uint64_t>(static_cast<unsigned __int128>(a) * b % m);
}

uint64_t pow_mod(uint64_t base, uint64_t exp, uint64_t m) {
  uint64_t result = 1;
  base %= m;
  for (; exp > 0; exp >>= 1) {
    if (exp & 1) result = mul_mod(result, base, m);
    base = mul_mod(base, base, m);
  }
  return result;
}

}  // namespace

bool is_prime(uint64_t n) {
  if (n < 2) return false;
  // The first twelve primes as Miller-Rabin bases decide every n < 3.3e24, so all of uint64_t.
  constexpr uint64_t kBases[] = {2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37};
  for (uint64_t p : kBases) {
    if (n % p == 0) return n == p;
  }
  uint64_t d = n - 1;
  int s = 0;
  for (; (d & 1) == 0; d >>= 1) ++s;
  for (uint64_t a : kBases) {
    uint64_t x = pow_mod(a, d, n);
    if (x == 1 || x == n - 1) continue;
    bool composite = true;
    for (int r = 1; r < s && composite; ++r) {
      x = mul_mod(x, x, n);
      if (x == n - 1) composite = false;
    }
    if (composite) return false;
  }
  return true;
}

std::string check_maglev_size(uint64_t size) {
  if (size < 3 || size > kMaxMaglevSize) {
    return "Maglev table size " + std::to_string(size) + " out of range (3 .. " + std::to_string(kMaxMaglevSize) + ")";
  }
  if (!is_prime(size)) {
    return "Maglev table size " + std::to_string(size) + " is not a prime (use e.g. 65537, 655373 or 1048573)";
  }
  return "";
}

}  // namespace fulcrum::config
