// [[dataplane.ports]] host_sharing and kernel_interface (issue 11): values, defaults, and
// the errors an operator sees for combinations that cannot work.
#include <gtest/gtest.h>

#include <string>

#include "config/loader/dataplane_config.h"
#include "config/loader/errors.h"
#include "tests/unit/temp_config_files.h"

namespace fulcrum::config {
namespace {

class HostSharingConfig : public test::TempConfigFiles {
 protected:
  // One port with `keys` appended; the loaded config, or the errors in *errors_out.
  std::optional<DataplaneConfig> load(const std::string& device, const std::string& keys, std::string* errors_out) {
    std::string path = write("port", "[dataplane]\n[[dataplane.ports]]\nname = \"client\"\ndevice = \"" + device +
                                         "\"\naddress = \"198.18.1.1/24\"\n" + keys);
    Errors errors(path);
    std::optional<DataplaneConfig> cfg = load_dataplane(path, errors);
    *errors_out = errors.str();
    return cfg;
  }
};

TEST_F(HostSharingConfig, DefaultIsNone) {
  std::string err;
  auto cfg = load("0000:3b:00.0", "", &err);
  ASSERT_TRUE(cfg) << err;
  EXPECT_EQ(cfg->ports[0].host_sharing, HostSharing::None);
  EXPECT_FALSE(kernel_owns_address(cfg->ports[0].host_sharing));
}

TEST_F(HostSharingConfig, XdpOnAnAfXdpPort) {
  std::string err;
  auto cfg = load("net_af_xdp0,iface=eth1", "host_sharing = \"xdp\"\n", &err);
  ASSERT_TRUE(cfg) << err;
  EXPECT_EQ(cfg->ports[0].host_sharing, HostSharing::Xdp);
  EXPECT_TRUE(kernel_owns_address(HostSharing::Xdp));
  EXPECT_FALSE(has_exception_path(HostSharing::Xdp));
}

TEST_F(HostSharingConfig, TapGetsADefaultInterfaceName) {
  std::string err;
  auto cfg = load("0000:3b:00.0", "host_sharing = \"tap\"\n", &err);
  ASSERT_TRUE(cfg) << err;
  EXPECT_EQ(cfg->ports[0].kernel_interface, "fl-client");
  cfg = load("net_af_packet0,iface=eth1", "host_sharing = \"virtio_user\"\nkernel_interface = \"edge0\"\n", &err);
  ASSERT_TRUE(cfg) << err;
  EXPECT_EQ(cfg->ports[0].host_sharing, HostSharing::VirtioUser);
  EXPECT_EQ(cfg->ports[0].kernel_interface, "edge0");
}

TEST_F(HostSharingConfig, CombinationsThatCannotWorkAreRefused) {
  struct Case {
    const char* device;
    const char* keys;
    const char* message;
  } cases[] = {
      {"0000:3b:00.0", "host_sharing = \"kni\"\n", "is not one of \"none\", \"xdp\", \"tap\", \"virtio_user\""},
      {"0000:3b:00.0", "host_sharing = \"xdp\"\n", "\"xdp\" needs a net_af_xdp device"},
      {"net_af_xdp0,iface=eth1,xdp_prog=/tmp/x.o", "host_sharing = \"xdp\"\n", "xdp_prog= is set by lb-dataplane"},
      {"net_af_xdp0,iface=eth1", "host_sharing = \"tap\"\n", "shares its NIC with host_sharing = \"xdp\""},
      {"0000:3b:00.0", "kernel_interface = \"x\"\n", "only for host_sharing = \"tap\" or \"virtio_user\""},
      {"0000:3b:00.0", "host_sharing = \"tap\"\nkernel_interface = \"a-name-far-too-long\"\n", "is not an interface name"},
      {"0000:3b:00.0", "host_sharing = \"tap\"\nkernel_interface = \"bad/name\"\n", "is not an interface name"},
  };
  for (const Case& c : cases) {
    std::string err;
    EXPECT_FALSE(load(c.device, c.keys, &err)) << c.keys;
    EXPECT_NE(err.find(c.message), std::string::npos) << c.keys << " gave:\n" << err;
    EXPECT_NE(err.find("dataplane.ports[0]."), std::string::npos) << err;
  }
}

}  // namespace
}  // namespace fulcrum::config
