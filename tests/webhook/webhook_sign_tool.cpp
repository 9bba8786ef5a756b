// Test helper: signs a body with sluice::webhook::WebhookSigner and prints the
// headers, one "Name: value" a line, for signature_interop_test.py to check
// with independent implementations.
//
//   webhook_sign_tool (--secret S | --generate-secret) --id ID --timestamp T --body-file F
//
// With --generate-secret it first prints "secret: whsec_...".
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <string_view>

#include "sluice/webhook/signature.hpp"

int main(int argc, char** argv) {
  using namespace sluice::webhook;
  std::string secret, id, body_file;
  std::int64_t timestamp = 0;
  bool generate = false;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    const auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::cerr << "missing value after " << arg << "\n";
        std::exit(2);
      }
      return argv[++i];
    };
    if (arg == "--secret") {
      secret = value();
    } else if (arg == "--generate-secret") {
      generate = true;
    } else if (arg == "--id") {
      id = value();
    } else if (arg == "--timestamp") {
      timestamp = std::stoll(value());
    } else if (arg == "--body-file") {
      body_file = value();
    } else {
      std::cerr << "unknown argument " << arg << "\n";
      return 2;
    }
  }
  if (generate) {
    auto generated = generate_secret();
    if (!generated) return 1;
    secret = *generated;
    std::cout << "secret: " << secret << "\n";
  }
  std::ifstream in(body_file, std::ios::binary);
  std::stringstream body;
  body << in.rdbuf();
  std::string error;
  auto signer = WebhookSigner::from_secret(secret, error);
  if (!signer) {
    std::cerr << "error: " << error << "\n";
    return 1;
  }
  const SignatureHeaders h = signer->sign(id, timestamp, body.str());
  std::cout << kSluiceTimestampHeader << ": " << h.sluice_timestamp << "\n"
            << kSluiceSignatureHeader << ": " << h.sluice_signature << "\n"
            << kWebhookIdHeader << ": " << h.webhook_id << "\n"
            << kWebhookTimestampHeader << ": " << h.webhook_timestamp << "\n"
            << kWebhookSignatureHeader << ": " << h.webhook_signature << "\n";
  return 0;
}
