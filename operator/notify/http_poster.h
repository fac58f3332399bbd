#pragma once

// The Poster (dispatcher.h) over cpprestsdk's HTTP client: http and https URLs, the system's
// CA certificates for https. The only notify code that includes cpprestsdk.

#include <memory>

#include "operator/notify/dispatcher.h"

namespace kubegrant::notify {

std::unique_ptr<Poster> makeHttpPoster();

}  // namespace kubegrant::notify
