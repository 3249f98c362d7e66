#include "support/loopback_certificate.hpp"

#include <fstream>
#include <stdexcept>
#include <string>

namespace envoi::test {
namespace {

void make(const std::string& command) {
  const auto r = run_command(command);
  if (r.status != 0) throw std::runtime_error(command + " failed:\n" + r.output);
}

}  // namespace

loopback_certificate::loopback_certificate() {
  const std::string d = shell_quoted(dir_.path().string());
  const std::string ec = "-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2";
  make("cd " + d + " && openssl req -x509 " + ec +
       " -subj '/CN=envoi loopback test CA' -keyout ca.key -out ca.crt"
       " -addext basicConstraints=critical,CA:TRUE -addext keyUsage=keyCertSign");
  make("cd " + d + " && openssl req -x509 " + ec +
       " -subj '/CN=unrelated CA' -keyout other.key -out other.crt");
  std::ofstream(dir_ / "san.ext") << "subjectAltName=IP:127.0.0.1\n";
  make("cd " + d + " && openssl req " + ec +
       " -subj '/CN=127.0.0.1' -keyout server.key -out server.csr && openssl x509 -req -in "
       "server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 -out server.crt "
       "-extfile san.ext");
}

}  // namespace envoi::test
