#include "image/content_store.h"

namespace zlayer::image {

Status StringBlobWriter::write(std::string_view bytes) {
  data_.append(bytes);
  return {};
}

Status StringBlobWriter::reset() {
  data_.clear();
  return {};
}

}  // namespace zlayer::image
