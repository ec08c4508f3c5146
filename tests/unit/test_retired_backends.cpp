// The control plane's side of `on_backend_down = "reset"` for backends removed from the
// config: their ids stay published as Removed, with the policy of the VIP they were in, for
// as long as the data plane has connections on them, across reloads and restarts.
#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <map>
#include <memory>

#include "controlplane/service/retired_backends.h"

namespace fulcrum::cp {
namespace {

VipSpec vip(uint32_t addr, uint16_t id, abi::DownPolicy policy, std::initializer_list<uint16_t> backend_ids) {
  VipSpec v;
  v.addr_be = htonl(addr);
  v.port_be = htons(80);
  v.vip_id = id;
  v.down_policy = policy;
  v.maglev_size = 251;
  for (uint16_t b : backend_ids) v.backends.push_back({htonl(0x0A000000u + b), htons(80), b, 1, abi::BackendState::Active});
  return v;
}

TEST(RetiredBackends, RemovedIdsKeepTheirVipsPolicyWhileTheyHaveConnections) {
  auto slot = std::make_unique<abi::TableSlot>();
  TableSpec before;
  before.vips = {vip(0xC6120010, 0, abi::DownPolicy::Keep, {1, 2}), vip(0xC6120020, 1, abi::DownPolicy::Reset, {3, 4})};
  ASSERT_EQ(fill_slot(before, *slot), "");

  std::map<uint16_t, uint64_t> active{{1, 9}, {2, 5}, {3, 1}, {4, 0}};
  auto connections = [&](uint16_t id) { return active[id]; };
  TableSpec after;
  after.vips = {vip(0xC6120010, 0, abi::DownPolicy::Keep, {1}), vip(0xC6120020, 1, abi::DownPolicy::Reset, {})};
  after.retired = retired_backends(slot.get(), after, connections);
  ASSERT_EQ(after.retired.size(), 2u) << "4 has no connection left: nothing to keep it for";
  EXPECT_EQ(after.retired[0].id, 2);
  EXPECT_EQ(after.retired[0].down_policy, abi::DownPolicy::Keep);
  EXPECT_EQ(after.retired[1].id, 3);
  EXPECT_EQ(after.retired[1].down_policy, abi::DownPolicy::Reset);

  // Published: the data plane reads Removed, and resets only under the reset policy.
  auto next = std::make_unique<abi::TableSlot>();
  ASSERT_EQ(fill_slot(after, *next), "");
  EXPECT_EQ(next->backend_flags[2], static_cast<uint8_t>(abi::BackendState::Removed));
  EXPECT_FALSE(abi::resets_flows(next->backend_flags[2]));
  EXPECT_TRUE(abi::resets_flows(next->backend_flags[3]));
  EXPECT_TRUE(abi::unusable_for_new_connections(next->backend_flags[3]));
  EXPECT_EQ(next->backend_flags[4], 0) << "a forgotten id reads as unknown";
  EXPECT_FALSE(abi::resets_flows(next->backend_flags[1]));

  // The next generation (or a restarted control plane) knows the policy from the retired
  // flags alone; an id is dropped once its last connection closed.
  active[2] = 0;
  TableSpec later;
  later.vips = after.vips;
  later.retired = retired_backends(next.get(), later, connections);
  ASSERT_EQ(later.retired.size(), 1u);
  EXPECT_EQ(later.retired[0].id, 3);
  EXPECT_EQ(later.retired[0].down_policy, abi::DownPolicy::Reset);

  // An id the new spec uses again is never retired.
  TableSpec reused;
  reused.vips = {vip(0xC6120010, 0, abi::DownPolicy::Keep, {1, 3})};
  EXPECT_TRUE(retired_backends(next.get(), reused, connections).empty());
  EXPECT_TRUE(retired_backends(nullptr, reused, connections).empty()) << "nothing published yet";
}

}  // namespace
}  // namespace fulcrum::cp
