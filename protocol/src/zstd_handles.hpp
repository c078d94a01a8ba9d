#pragma once
// Move-only owners for zstd handles. Private to pos::protocol; zstd stays out of public headers.

#define ZSTD_STATIC_LINKING_ONLY
#include <zstd.h>
#include <zstd_errors.h>

#include <memory>

namespace pos::protocol::detail {

struct CCtxFree {
  void operator()(ZSTD_CCtx* p) const noexcept { ZSTD_freeCCtx(p); }
};
struct DCtxFree {
  void operator()(ZSTD_DCtx* p) const noexcept { ZSTD_freeDCtx(p); }
};
struct CDictFree {
  void operator()(ZSTD_CDict* p) const noexcept { ZSTD_freeCDict(p); }
};
struct DDictFree {
  void operator()(ZSTD_DDict* p) const noexcept { ZSTD_freeDDict(p); }
};

using CCtxHandle = std::unique_ptr<ZSTD_CCtx, CCtxFree>;
using DCtxHandle = std::unique_ptr<ZSTD_DCtx, DCtxFree>;
using CDictHandle = std::unique_ptr<ZSTD_CDict, CDictFree>;
using DDictHandle = std::unique_ptr<ZSTD_DDict, DDictFree>;

}  // namespace pos::protocol::detail
