// Streaming rendering: rendered_message from message::render_stream().
#include <envoi/message.hpp>

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <regex>
#include <string>
#include <system_error>
#include <type_traits>

#include <gtest/gtest.h>

#include <envoi/error.hpp>

namespace fs = std::filesystem;
using envoi::attachment;
using envoi::mailbox;
using envoi::message;
using envoi::rendered_message;

static_assert(!std::is_copy_constructible_v<rendered_message>);
static_assert(std::is_nothrow_move_constructible_v<rendered_message>);

namespace {

// Boundaries are random, so two renderings of one message differ in them only; each is
// replaced by its rank of first appearance.
std::string without_boundaries(const std::string& m) {
  const std::regex pattern("=_envoi_[0-9a-f]{24}");
  std::vector<std::string> seen;
  std::string out;
  std::size_t last = 0;
  for (auto it = std::sregex_iterator(m.begin(), m.end(), pattern); it != std::sregex_iterator();
       ++it) {
    const std::string b = it->str();
    auto found = std::find(seen.begin(), seen.end(), b);
    if (found == seen.end()) found = seen.insert(seen.end(), b);
    out.append(m, last, static_cast<std::size_t>(it->position()) - last);
    out += "BOUNDARY" + std::to_string(found - seen.begin());
    last = static_cast<std::size_t>(it->position() + it->length());
  }
  out.append(m, last);
  return out;
}

struct streamed {
  std::string text;
  std::size_t chunks = 0;
  std::size_t largest = 0;
};

streamed stream_all(rendered_message& r) {
  streamed s;
  std::string chunk;
  while (r.next(chunk)) {
    ++s.chunks;
    s.largest = std::max(s.largest, chunk.size());
    s.text += chunk;
    chunk.clear();
  }
  // Once done, next() appends nothing and keeps saying so.
  EXPECT_FALSE(r.next(chunk));
  EXPECT_TRUE(chunk.empty());
  return s;
}

message fixed_message() {
  using namespace std::chrono;
  message m;
  m.from(mailbox::parse("Clinique du Sud <sud@example.test>"))
      .add_to(mailbox::parse("Zoé <zoe@example.test>"))
      .subject("Rappel de vaccination")
      .text("Bonjour,\nMédor est attendu mardi.\n")
      .date(sys_days{year{2026} / June / 1})
      .message_id("rappel-1@sud.example.test");
  return m;
}

class RenderStream : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("envoi-stream-test-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  fs::path write(const std::string& name, std::size_t size, unsigned seed = 1) {
    std::mt19937 rng(seed);
    std::string data(size, '\0');
    for (char& c : data) c = static_cast<char>(rng());
    const fs::path path = dir_ / name;
    std::ofstream(path, std::ios::binary)
        .write(data.data(), static_cast<std::streamsize>(data.size()));
    return path;
  }

  // The chunks joined are render()'s output, and size() is their exact length.
  void expect_stream_matches_render(const message& m, const envoi::render_options& o = {}) {
    rendered_message r = m.render_stream(o);
    const std::uint64_t announced = r.size();
    const streamed s = stream_all(r);
    EXPECT_EQ(s.text.size(), announced);
    EXPECT_LE(s.largest, rendered_message::max_chunk);
    EXPECT_EQ(without_boundaries(s.text), without_boundaries(m.render(o)));
  }

  fs::path dir_;
};

}  // namespace

TEST_F(RenderStream, SizeIsExactAndChunksJoinToRenderForEveryShape) {
  envoi::calendar_event e;
  e.start = std::chrono::sys_days{std::chrono::year{2026} / 12 / 8};
  e.end = e.start + std::chrono::hours{1};
  e.stamp = e.start;
  e.summary = "Consultation";

  std::vector<std::pair<std::string, message>> shapes;
  shapes.emplace_back("text only", fixed_message());
  shapes.emplace_back("empty text", fixed_message().text(""));
  shapes.emplace_back("text and html", fixed_message().html("<p>Bonjour</p>\n"));
  shapes.emplace_back("html only", fixed_message().text("").html("<p>Médor</p>"));
  {
    message m = fixed_message().html("<img src=\"cid:logo@sud.example.test\">");
    attachment logo = attachment::from_file(write("logo.png", 3000), "", "image/png");
    logo.content_id = "logo@sud.example.test";
    m.add_inline(logo);
    shapes.emplace_back("inline image", m);
  }
  for (const std::size_t n : {0, 1, 2, 3, 56, 57, 58, 76, 114, 1000, 3 * 1024 * 1024}) {
    message m = fixed_message();
    m.attach(attachment::from_file(write("f" + std::to_string(n) + ".bin", n, 7)));
    m.attach(attachment::from_memory(std::string(n % 200, 'z'), "m.txt"));
    shapes.emplace_back(std::to_string(n) + "-byte file", m);
  }
  shapes.emplace_back("invitation", fixed_message().attach_calendar_event(e));

  for (const auto& [name, m] : shapes) {
    SCOPED_TRACE(name);
    expect_stream_matches_render(m);
    expect_stream_matches_render(m, {.allow_8bit = true});
  }
}

TEST_F(RenderStream, TwentyFiveMegabyteFileIsStreamedInBoundedChunks) {
  // F52: the file is read chunk by chunk, never whole; no chunk passes 64 KiB.
  const std::size_t size = 25 * 1024 * 1024;
  message m = fixed_message();
  m.attach(attachment::from_file(write("radio.bin", size, 25)));
  rendered_message r = m.render_stream();
  const std::uint64_t announced = r.size();
  EXPECT_GT(announced, size / 3 * 4);

  std::string chunk;
  std::uint64_t total = 0;
  std::size_t largest = 0;
  std::size_t chunks = 0;
  while (r.next(chunk)) {
    largest = std::max(largest, chunk.size());
    total += chunk.size();
    ++chunks;
    chunk.clear();
  }
  EXPECT_EQ(total, announced);
  EXPECT_LE(largest, rendered_message::max_chunk);
  EXPECT_GT(chunks, 500u);
}

TEST_F(RenderStream, FileThatChangesSizeAfterRenderingStartsIsAnError) {
  for (const long change : {-1L, +1L, -1000L}) {
    const fs::path path = write("facture.pdf", 200000);
    message m = fixed_message();
    m.attach(attachment::from_file(path));
    rendered_message r = m.render_stream();
    fs::resize_file(path, static_cast<std::uintmax_t>(200000 + change));
    std::string out;
    try {
      while (r.next(out)) {
      }
      ADD_FAILURE() << "streamed a file that changed by " << change;
    } catch (const std::system_error& e) {
      EXPECT_NE(std::string(e.what()).find(path.string()), std::string::npos) << e.what();
    }
  }
}

TEST_F(RenderStream, FileThatGrowsWhileBeingReadIsAnError) {
  // The size is checked again at the end of the file, not only when it is opened.
  const fs::path path = write("scan.pdf", 300000);
  message m = fixed_message();
  m.attach(attachment::from_file(path));
  rendered_message r = m.render_stream();
  std::string out;
  ASSERT_TRUE(r.next(out));
  ASSERT_TRUE(r.next(out));
  std::ofstream(path, std::ios::binary | std::ios::app) << "more";
  EXPECT_THROW(
      {
        while (r.next(out)) {
        }
      },
      std::system_error);
}

TEST_F(RenderStream, MissingFileFailsBeforeAnythingIsStreamed) {
  message m = fixed_message();
  m.attach(attachment::from_file(dir_ / "absent.pdf"));
  try {
    (void)m.render_stream();
    FAIL() << "rendered a missing file";
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code(), std::errc::no_such_file_or_directory);
    EXPECT_NE(std::string(e.what()).find("absent.pdf"), std::string::npos);
  }
  // A folder is refused when attached; one that appears at the path later, when rendered.
  EXPECT_THROW((void)attachment::from_file(dir_, "dossier.bin"), envoi::invalid_input);
  message d = fixed_message();
  d.attach(attachment::from_file(dir_ / "dossier", "dossier.bin"));
  fs::create_directory(dir_ / "dossier");
  try {
    (void)d.render_stream();
    FAIL() << "rendered a folder";
  } catch (const envoi::invalid_input& e) {
    EXPECT_NE(std::string(e.what()).find("dossier\" is a folder, not a file"), std::string::npos)
        << e.what();
  }
}

TEST_F(RenderStream, MovedStreamContinuesWhereItWas) {
  message m = fixed_message();
  m.attach(attachment::from_file(write("a.bin", 200000)));
  rendered_message r = m.render_stream();
  const std::uint64_t size = r.size();
  std::string out;
  ASSERT_TRUE(r.next(out));
  rendered_message moved = std::move(r);
  while (moved.next(out)) {
  }
  EXPECT_EQ(out.size(), size);
  EXPECT_EQ(without_boundaries(out), without_boundaries(m.render()));
}
