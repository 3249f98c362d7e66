#include <envoi/account.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <system_error>

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <envoi/error.hpp>

namespace {

namespace fs = std::filesystem;

const std::string secret = "s3cr3t-Pa55-do-not-show";

// The text of the error read() throws; fails the test when it throws nothing.
std::system_error read_failure(const envoi::secret_ref& s) {
  try {
    (void)s.read();
  } catch (const std::system_error& e) {
    return e;
  }
  ADD_FAILURE() << "read() of " << s.describe() << " threw nothing";
  return std::system_error(std::error_code());
}

class SecretFile : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = fs::temp_directory_path() /
            ("envoi-secret-" + std::to_string(::getpid()) + "-" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
  }
  void TearDown() override { fs::remove(path_); }

  void write(const std::string& text) { std::ofstream(path_, std::ios::binary) << text; }

  fs::path path_;
};

TEST(SecretRef, IsEmptyByDefault) {
  envoi::secret_ref s;
  EXPECT_TRUE(s.empty());
  EXPECT_EQ(read_failure(s).code(), envoi::errc::secret_unavailable);
}

TEST(SecretRef, ReadsAnEnvironmentVariable) {
  ::setenv("ENVOI_TEST_SECRET_SET", secret.c_str(), 1);
  const auto s = envoi::secret_ref::from_env("ENVOI_TEST_SECRET_SET");
  EXPECT_FALSE(s.empty());
  EXPECT_EQ(s.read(), secret);
  ::unsetenv("ENVOI_TEST_SECRET_SET");
}

TEST(SecretRef, DescribesAVariableByItsNameOnly) {
  ::setenv("ENVOI_TEST_SECRET_SHOWN", secret.c_str(), 1);
  const auto s = envoi::secret_ref::from_env("ENVOI_TEST_SECRET_SHOWN");
  EXPECT_EQ(s.describe(), "environment variable ENVOI_TEST_SECRET_SHOWN");
  EXPECT_EQ(s.describe().find(secret), std::string::npos);
  ::unsetenv("ENVOI_TEST_SECRET_SHOWN");
}

TEST(SecretRef, NamesAnUnsetVariableInItsError) {
  ::unsetenv("ENVOI_TEST_SECRET_UNSET");
  const auto e = read_failure(envoi::secret_ref::from_env("ENVOI_TEST_SECRET_UNSET"));
  EXPECT_EQ(e.code(), envoi::errc::secret_unavailable);
  EXPECT_NE(std::string(e.what()).find("ENVOI_TEST_SECRET_UNSET"), std::string::npos);
  EXPECT_NE(std::string(e.what()).find("not set"), std::string::npos);
  // The reason alone, for a caller that puts it in an error of its own.
  try {
    (void)envoi::secret_ref::from_env("ENVOI_TEST_SECRET_UNSET").read();
  } catch (const envoi::secret_error& s) {
    EXPECT_EQ(s.reason(),
              "environment variable ENVOI_TEST_SECRET_UNSET is not set; set it to the secret "
              "before starting the program");
  }
}

TEST(SecretRef, DoesNotShowTheNameOfAnUnsetVariableThatLooksLikeAPassword) {
  // A digit and no '_': maybe the password itself, pasted where the name belongs.
  ::unsetenv("HUNTER2026");
  const auto e = read_failure(envoi::secret_ref::from_env("HUNTER2026"));
  EXPECT_EQ(std::string(e.what()).find("HUNTER2026"), std::string::npos) << e.what();
  EXPECT_NE(std::string(e.what()).find("named in the configuration"), std::string::npos);
  EXPECT_NE(std::string(e.what()).find("not set"), std::string::npos);
  // Names in words are shown, as usual.
  EXPECT_EQ(envoi::secret_ref::from_env("SMTP_PASSWORD_2").describe(),
            "environment variable SMTP_PASSWORD_2");
  EXPECT_EQ(envoi::secret_ref::from_env("PASSWORD").describe(), "environment variable PASSWORD");
}

TEST(SecretRef, RefusesANameThatIsNoVariableWithoutRepeatingIt) {
  for (const std::string name :
       {secret, std::string("A B"), std::string("1PASSWORD"), std::string("")}) {
    try {
      (void)envoi::secret_ref::from_env(name);
      ADD_FAILURE() << "accepted: " << name;
    } catch (const envoi::invalid_input& e) {
      if (!name.empty()) EXPECT_EQ(std::string(e.what()).find(name), std::string::npos);
      EXPECT_NE(std::string(e.what()).find("never the secret itself"), std::string::npos);
    }
  }
  EXPECT_TRUE(envoi::is_environment_variable_name("_envoi_2"));
  EXPECT_FALSE(envoi::is_environment_variable_name("MOT_DE_PASSÉ"));
}

TEST(SecretRef, RefusesAnEmptyVariable) {
  ::setenv("ENVOI_TEST_SECRET_EMPTY", "", 1);
  const auto e = read_failure(envoi::secret_ref::from_env("ENVOI_TEST_SECRET_EMPTY"));
  EXPECT_EQ(e.code(), envoi::errc::secret_unavailable);
  EXPECT_NE(std::string(e.what()).find("is empty; set it to the password"), std::string::npos);
  ::unsetenv("ENVOI_TEST_SECRET_EMPTY");
}

TEST_F(SecretFile, ReadsAFileWithoutItsFinalLineEnd) {
  write(secret + "\r\n");
  EXPECT_EQ(envoi::secret_ref::from_file(path_).read(), secret);
  write(secret + "\n");
  EXPECT_EQ(envoi::secret_ref::from_file(path_).read(), secret);
  write(secret);
  EXPECT_EQ(envoi::secret_ref::from_file(path_).read(), secret);
}

TEST_F(SecretFile, DropsTheByteOrderMarkNotepadWrites) {
  write("\xEF\xBB\xBF" + secret + "\r\n");
  EXPECT_EQ(envoi::secret_ref::from_file(path_).read(), secret);
}

TEST_F(SecretFile, SaysAMissingFileDoesNotExistAndAPipeIsNoFile) {
  auto e = read_failure(envoi::secret_ref::from_file(path_));
  EXPECT_NE(std::string(e.what()).find("does not exist"), std::string::npos) << e.what();
  // Reading a pipe would wait for a writer for ever.
  ASSERT_EQ(::mkfifo(path_.c_str(), 0600), 0);
  e = read_failure(envoi::secret_ref::from_file(path_));
  EXPECT_NE(std::string(e.what()).find("is not a regular file"), std::string::npos) << e.what();
  fs::remove(path_);
  e = read_failure(envoi::secret_ref::from_file("/dev/null"));
  EXPECT_NE(std::string(e.what()).find("is not a regular file"), std::string::npos) << e.what();
}

TEST(SecretRef, ReadsAVariableWithoutAFinalLineEnd) {
  for (const char* value : {"s3cret:pw\n", "s3cret:pw\r\n"}) {
    ::setenv("ENVOI_TEST_SECRET_LINE", value, 1);
    EXPECT_EQ(envoi::secret_ref::from_env("ENVOI_TEST_SECRET_LINE").read(), "s3cret:pw");
  }
  ::setenv("ENVOI_TEST_SECRET_LINE", "s3cret:pw\nautre\n", 1);
  const auto e = read_failure(envoi::secret_ref::from_env("ENVOI_TEST_SECRET_LINE"));
  EXPECT_NE(std::string(e.what()).find("more than one line"), std::string::npos) << e.what();
  EXPECT_EQ(std::string(e.what()).find("s3cret"), std::string::npos) << e.what();
  ::unsetenv("ENVOI_TEST_SECRET_LINE");
}

TEST_F(SecretFile, KeepsSpacesThatArePartOfThePassword) {
  write(" " + secret + "  \n");
  EXPECT_EQ(envoi::secret_ref::from_file(path_).read(), " " + secret + "  ");
}

TEST_F(SecretFile, DescribesAFileByItsPathOnly) {
  write(secret);
  const auto s = envoi::secret_ref::from_file(path_);
  EXPECT_EQ(s.describe(), "file " + path_.string());
  EXPECT_EQ(s.describe().find(secret), std::string::npos);
}

TEST_F(SecretFile, NamesAMissingFileInItsError) {
  const auto e = read_failure(envoi::secret_ref::from_file(path_));
  EXPECT_EQ(e.code(), envoi::errc::secret_unavailable);
  EXPECT_NE(std::string(e.what()).find(path_.string()), std::string::npos);
}

TEST_F(SecretFile, RefusesAFileOfMoreThanOneLineWithoutQuotingIt) {
  write(secret + "\nmot de passe de secours\n");
  const auto e = read_failure(envoi::secret_ref::from_file(path_));
  EXPECT_EQ(e.code(), envoi::errc::secret_unavailable);
  EXPECT_NE(std::string(e.what()).find("more than one line"), std::string::npos) << e.what();
  EXPECT_EQ(std::string(e.what()).find(secret), std::string::npos);
}

TEST_F(SecretFile, SaysAFolderIsAFolder) {
  fs::create_directories(path_);
  const auto e = read_failure(envoi::secret_ref::from_file(path_));
  EXPECT_NE(std::string(e.what()).find("is a folder"), std::string::npos) << e.what();
  fs::remove(path_);
}

TEST_F(SecretFile, RefusesAFileHoldingOnlyALineEnd) {
  write("\n");
  const auto e = read_failure(envoi::secret_ref::from_file(path_));
  EXPECT_EQ(e.code(), envoi::errc::secret_unavailable);
  EXPECT_NE(std::string(e.what()).find("is empty; write the password in it"), std::string::npos)
      << e.what();
}

TEST_F(SecretFile, NeverPutsTheValueInAnError) {
  // An unreadable file that holds the secret: the error may name the file, not its content.
  write(secret);
  fs::permissions(path_, fs::perms::none);
  const auto s = envoi::secret_ref::from_file(path_);
  try {
    const auto value = s.read();
    // Root ignores permissions; then the value must at least come back intact.
    EXPECT_EQ(value, secret);
  } catch (const std::system_error& e) {
    EXPECT_EQ(std::string(e.what()).find(secret), std::string::npos);
  }
}

}  // namespace

namespace {

TEST(SecretRef, AsksTheApplicationsCallbackEachTime) {
  int calls = 0;
  const auto s = envoi::secret_ref::from_callback("the clinic's keyring", [&] {
    ++calls;
    return secret;
  });
  EXPECT_FALSE(s.empty());
  EXPECT_EQ(s.read(), secret);
  EXPECT_EQ(s.read(), secret);
  EXPECT_EQ(calls, 2);
  EXPECT_EQ(s.describe(), "the clinic's keyring");
}

TEST(SecretRef, KeepsACallbacksExceptionTextOutOfTheError) {
  // The application's exception may quote the secret; the error names the source only.
  const auto s = envoi::secret_ref::from_callback(
      "the clinic's keyring", []() -> std::string { throw std::runtime_error("bad " + secret); });
  const auto e = read_failure(s);
  EXPECT_EQ(e.code(), envoi::make_error_code(envoi::errc::secret_unavailable));
  EXPECT_EQ(std::string(e.what()), "the clinic's keyring failed: the password could not be read");
  const auto empty = envoi::secret_ref::from_callback("vault", [] { return std::string(); });
  EXPECT_TRUE(std::string(read_failure(empty).what()).starts_with("vault gave an empty secret"));
}

TEST(Sha256Fingerprint, ReadsHexInAnyCaseWithOrWithoutColons) {
  // SHA-256 of "test", as sha256sum prints it.
  const envoi::sha256_fingerprint bare(
      "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08");
  const envoi::sha256_fingerprint colons(
      "9F:86:D0:81:88:4c:7d:65:9A:2F:EA:A0:C5:5A:D0:15:A3:BF:4F:1B:2B:0B:82:2C:D1:5D:6C:15:B0:F0:"
      "0A:08");
  EXPECT_EQ(bare, colons);
  EXPECT_EQ(bare, envoi::sha256_fingerprint::of_der("test"));
  EXPECT_EQ(bare.to_string(),
            "9F:86:D0:81:88:4C:7D:65:9A:2F:EA:A0:C5:5A:D0:15:A3:BF:4F:1B:2B:0B:82:2C:D1:5D:6C:15:"
            "B0:F0:0A:08");
  EXPECT_TRUE(envoi::sha256_fingerprint().empty());
  EXPECT_EQ(envoi::sha256_fingerprint().to_string(), "");
}

TEST(Sha256Fingerprint, RefusesOtherTextNamingTheField) {
  for (const std::string text :
       {std::string(""), std::string(63, 'a'), std::string(64, 'g'),
        std::string("9F:86D0:81:88:4C:7D:65:9A:2F:EA:A0:C5:5A:D0:15:A3:BF:4F:1B:2B:0B:82:2C:D1:5D:"
                    "6C:15:B0:F0:0A:08:")}) {
    try {
      envoi::sha256_fingerprint f(text, "pin");
      ADD_FAILURE() << "accepted " << text;
    } catch (const envoi::invalid_input& e) {
      EXPECT_EQ(e.field(), "pin");
      EXPECT_NE(e.reason().find("SHA-256 fingerprint"), std::string::npos) << e.what();
    }
  }
  try {
    envoi::sha256_fingerprint f("xyz");
    ADD_FAILURE();
  } catch (const envoi::invalid_input& e) {
    EXPECT_EQ(e.field(), "tls_fingerprint_sha256");
  }
}

}  // namespace
