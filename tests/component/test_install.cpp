// `meson install` puts the three binaries, their man pages and lbctl's bash completion in
// place (into a scratch DESTDIR), the man pages render without groff warnings, and the
// completion completes verbs, sub-verbs and options.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <array>
#include <fstream>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>

namespace {

std::string run(const std::string& cmd, int* status) {
  std::string out;
  FILE* p = popen((cmd + " 2>&1").c_str(), "r");
  if (p == nullptr) return "popen failed";
  std::array<char, 4096> buf;
  while (fgets(buf.data(), buf.size(), p) != nullptr) out += buf.data();
  int rc = pclose(p);
  *status = WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
  return out;
}

TEST(Install, BinariesManPagesAndCompletion) {
  const char* build = std::getenv("FULCRUM_BUILD_ROOT");
  ASSERT_NE(build, nullptr) << "run through meson test";
  char tmpl[] = "/tmp/fulcrum-install-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  std::string dest = tmpl;
  int rc = 0;
  std::string out = run("meson install -C " + std::string(build) + " --no-rebuild --quiet --destdir " + dest, &rc);
  ASSERT_EQ(rc, 0) << out;
  std::string prefix;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dest)) {
    if (e.path().filename() == "lbctl" && e.path().parent_path().filename() == "bin") prefix = e.path().parent_path().parent_path();
  }
  ASSERT_FALSE(prefix.empty()) << "no bin/lbctl under " << dest;
  for (const char* bin : {"bin/lbctl", "bin/lb-controlplane", "bin/lb-dataplane"}) {
    EXPECT_TRUE(std::filesystem::exists(prefix + "/" + bin)) << bin;
  }
  for (const char* page : {"lbctl", "lb-controlplane", "lb-dataplane"}) {
    std::string path = prefix + "/share/man/man8/" + page + ".8";
    ASSERT_TRUE(std::filesystem::exists(path)) << path;
    out = run("groff -man -Tutf8 -ww -z " + path, &rc);
    EXPECT_EQ(rc, 0);
    EXPECT_EQ(out, "") << page << ": groff warnings";
    out = run("MANWIDTH=100 man -l " + path + " | col -b", &rc);
    EXPECT_NE(out.find(std::string(page) + " -"), std::string::npos) << out.substr(0, 400);
  }
  std::string completion = prefix + "/share/bash-completion/completions/lbctl";
  ASSERT_TRUE(std::filesystem::exists(completion));
  std::string script = "source " + completion + R"(
t() { COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); _lbctl; echo "${COMPREPLY[*]}"; }
t lbctl dr; t lbctl backend ''; t lbctl -j health backend b1 ''; t lbctl drain backend b1 --w; t lbctl config ''
complete -p lbctl)";
  std::ofstream(dest + "/t.sh") << script;
  out = run("bash " + dest + "/t.sh", &rc);
  EXPECT_EQ(out, "drain\nlist show\nup down auto\n--wait\ncheck diff\ncomplete -F _lbctl lbctl\n");
  std::filesystem::remove_all(dest);
}

}  // namespace
