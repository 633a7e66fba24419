// SHA-256 (FIPS 180-4), for the harness's hashes of golden-case outputs and Philox keys.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

class Sha256 {
 public:
  Sha256();
  Sha256& update(const void* data, size_t bytes);
  Sha256& update(const std::string& text) { return update(text.data(), text.size()); }
  /** The 32-byte digest; the object must not be updated afterwards. */
  void digest(uint8_t out[32]);
  std::string hex();

 private:
  void block(const uint8_t* p);
  uint32_t h_[8];
  uint8_t buf_[64];
  size_t used_ = 0;
  uint64_t total_ = 0;
};
