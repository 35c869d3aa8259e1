// WASI preview 1 ABI numbers and struct layouts as the guest sees them (little-endian wasm32),
// written from WebAssembly/WASI legacy/preview1/witx/typenames.witx. These are WASI's own values,
// not Linux's: errno 76 is ENOTCAPABLE, filestat is 64 bytes, and so on. Shared by the WASI host
// functions and their tests; constants only, no state.
#pragma once

#include <cstdint>

namespace zlayer::wasm::wasi::abi {

// errno (u16 in witx; host functions return it as i32).
enum Errno : std::uint16_t {
  kSuccess = 0,
  k2Big = 1,
  kAcces = 2,
  kAddrInUse = 3,
  kAddrNotAvail = 4,
  kAfNoSupport = 5,
  kAgain = 6,
  kAlready = 7,
  kBadf = 8,
  kBadMsg = 9,
  kBusy = 10,
  kCanceled = 11,
  kChild = 12,
  kConnAborted = 13,
  kConnRefused = 14,
  kConnReset = 15,
  kDeadlk = 16,
  kDestAddrReq = 17,
  kDom = 18,
  kDquot = 19,
  kExist = 20,
  kFault = 21,
  kFbig = 22,
  kHostUnreach = 23,
  kIdrm = 24,
  kIlseq = 25,
  kInProgress = 26,
  kIntr = 27,
  kInval = 28,
  kIo = 29,
  kIsConn = 30,
  kIsDir = 31,
  kLoop = 32,
  kMfile = 33,
  kMlink = 34,
  kMsgSize = 35,
  kMultihop = 36,
  kNameTooLong = 37,
  kNetDown = 38,
  kNetReset = 39,
  kNetUnreach = 40,
  kNfile = 41,
  kNoBufs = 42,
  kNoDev = 43,
  kNoEnt = 44,
  kNoExec = 45,
  kNoLck = 46,
  kNoLink = 47,
  kNoMem = 48,
  kNoMsg = 49,
  kNoProtoOpt = 50,
  kNoSpc = 51,
  kNoSys = 52,
  kNotConn = 53,
  kNotDir = 54,
  kNotEmpty = 55,
  kNotRecoverable = 56,
  kNotSock = 57,
  kNotSup = 58,
  kNotTy = 59,
  kNxio = 60,
  kOverflow = 61,
  kOwnerDead = 62,
  kPerm = 63,
  kPipe = 64,
  kProto = 65,
  kProtoNoSupport = 66,
  kProtoType = 67,
  kRange = 68,
  kRofs = 69,
  kSpipe = 70,
  kSrch = 71,
  kStale = 72,
  kTimedOut = 73,
  kTxtBsy = 74,
  kXdev = 75,
  kNotCapable = 76,
};

// clockid
inline constexpr std::uint32_t kClockRealtime = 0;
inline constexpr std::uint32_t kClockMonotonic = 1;
inline constexpr std::uint32_t kClockProcessCputime = 2;
inline constexpr std::uint32_t kClockThreadCputime = 3;

// rights (u64 bit set)
inline constexpr std::uint64_t kRightFdDatasync = 1ULL << 0;
inline constexpr std::uint64_t kRightFdRead = 1ULL << 1;
inline constexpr std::uint64_t kRightFdSeek = 1ULL << 2;
inline constexpr std::uint64_t kRightFdFdstatSetFlags = 1ULL << 3;
inline constexpr std::uint64_t kRightFdSync = 1ULL << 4;
inline constexpr std::uint64_t kRightFdTell = 1ULL << 5;
inline constexpr std::uint64_t kRightFdWrite = 1ULL << 6;
inline constexpr std::uint64_t kRightFdAdvise = 1ULL << 7;
inline constexpr std::uint64_t kRightFdAllocate = 1ULL << 8;
inline constexpr std::uint64_t kRightPathCreateDirectory = 1ULL << 9;
inline constexpr std::uint64_t kRightPathCreateFile = 1ULL << 10;
inline constexpr std::uint64_t kRightPathLinkSource = 1ULL << 11;
inline constexpr std::uint64_t kRightPathLinkTarget = 1ULL << 12;
inline constexpr std::uint64_t kRightPathOpen = 1ULL << 13;
inline constexpr std::uint64_t kRightFdReaddir = 1ULL << 14;
inline constexpr std::uint64_t kRightPathReadlink = 1ULL << 15;
inline constexpr std::uint64_t kRightPathRenameSource = 1ULL << 16;
inline constexpr std::uint64_t kRightPathRenameTarget = 1ULL << 17;
inline constexpr std::uint64_t kRightPathFilestatGet = 1ULL << 18;
inline constexpr std::uint64_t kRightPathFilestatSetSize = 1ULL << 19;
inline constexpr std::uint64_t kRightPathFilestatSetTimes = 1ULL << 20;
inline constexpr std::uint64_t kRightFdFilestatGet = 1ULL << 21;
inline constexpr std::uint64_t kRightFdFilestatSetSize = 1ULL << 22;
inline constexpr std::uint64_t kRightFdFilestatSetTimes = 1ULL << 23;
inline constexpr std::uint64_t kRightPathSymlink = 1ULL << 24;
inline constexpr std::uint64_t kRightPathRemoveDirectory = 1ULL << 25;
inline constexpr std::uint64_t kRightPathUnlinkFile = 1ULL << 26;
inline constexpr std::uint64_t kRightPollFdReadwrite = 1ULL << 27;
inline constexpr std::uint64_t kRightSockShutdown = 1ULL << 28;
inline constexpr std::uint64_t kRightSockAccept = 1ULL << 29;

// Rights meaningful on a regular file, on a directory, and those that modify the file system
// (removed everywhere below a read-only preopen).
inline constexpr std::uint64_t kFileRights =
    kRightFdDatasync | kRightFdRead | kRightFdSeek | kRightFdFdstatSetFlags | kRightFdSync |
    kRightFdTell | kRightFdWrite | kRightFdAdvise | kRightFdAllocate | kRightFdFilestatGet |
    kRightFdFilestatSetSize | kRightFdFilestatSetTimes | kRightPollFdReadwrite;
inline constexpr std::uint64_t kDirectoryRights =
    kRightFdFdstatSetFlags | kRightFdSync | kRightFdDatasync | kRightPathCreateDirectory |
    kRightPathCreateFile | kRightPathLinkSource | kRightPathLinkTarget | kRightPathOpen |
    kRightFdReaddir | kRightPathReadlink | kRightPathRenameSource | kRightPathRenameTarget |
    kRightPathFilestatGet | kRightPathFilestatSetSize | kRightPathFilestatSetTimes |
    kRightFdFilestatGet | kRightFdFilestatSetTimes | kRightPathSymlink | kRightPathRemoveDirectory |
    kRightPathUnlinkFile | kRightPollFdReadwrite;
inline constexpr std::uint64_t kWriteRights =
    kRightFdWrite | kRightFdAllocate | kRightFdFilestatSetSize | kRightFdFilestatSetTimes |
    kRightPathCreateDirectory | kRightPathCreateFile | kRightPathLinkSource | kRightPathLinkTarget |
    kRightPathRenameSource | kRightPathRenameTarget | kRightPathFilestatSetSize |
    kRightPathFilestatSetTimes | kRightPathSymlink | kRightPathRemoveDirectory |
    kRightPathUnlinkFile;

// filetype (u8)
inline constexpr std::uint8_t kFiletypeUnknown = 0;
inline constexpr std::uint8_t kFiletypeBlockDevice = 1;
inline constexpr std::uint8_t kFiletypeCharacterDevice = 2;
inline constexpr std::uint8_t kFiletypeDirectory = 3;
inline constexpr std::uint8_t kFiletypeRegularFile = 4;
inline constexpr std::uint8_t kFiletypeSocketDgram = 5;
inline constexpr std::uint8_t kFiletypeSocketStream = 6;
inline constexpr std::uint8_t kFiletypeSymbolicLink = 7;

// whence (u8)
inline constexpr std::uint8_t kWhenceSet = 0;
inline constexpr std::uint8_t kWhenceCur = 1;
inline constexpr std::uint8_t kWhenceEnd = 2;

// advice (u8): normal, sequential, random, willneed, dontneed, noreuse
inline constexpr std::uint8_t kAdviceNoReuse = 5;

// fdflags (u16)
inline constexpr std::uint16_t kFdflagAppend = 1 << 0;
inline constexpr std::uint16_t kFdflagDsync = 1 << 1;
inline constexpr std::uint16_t kFdflagNonblock = 1 << 2;
inline constexpr std::uint16_t kFdflagRsync = 1 << 3;
inline constexpr std::uint16_t kFdflagSync = 1 << 4;

// fstflags (u16)
inline constexpr std::uint16_t kFstflagAtim = 1 << 0;
inline constexpr std::uint16_t kFstflagAtimNow = 1 << 1;
inline constexpr std::uint16_t kFstflagMtim = 1 << 2;
inline constexpr std::uint16_t kFstflagMtimNow = 1 << 3;

// lookupflags (u32)
inline constexpr std::uint32_t kLookupSymlinkFollow = 1 << 0;

// oflags (u16)
inline constexpr std::uint16_t kOflagCreat = 1 << 0;
inline constexpr std::uint16_t kOflagDirectory = 1 << 1;
inline constexpr std::uint16_t kOflagExcl = 1 << 2;
inline constexpr std::uint16_t kOflagTrunc = 1 << 3;

// eventtype (u8), eventrwflags (u16), subclockflags (u16)
inline constexpr std::uint8_t kEventtypeClock = 0;
inline constexpr std::uint8_t kEventtypeFdRead = 1;
inline constexpr std::uint8_t kEventtypeFdWrite = 2;
inline constexpr std::uint16_t kEventFdReadwriteHangup = 1 << 0;
inline constexpr std::uint16_t kSubclockAbstime = 1 << 0;

// preopentype (u8)
inline constexpr std::uint8_t kPreopentypeDir = 0;

// Struct sizes and field offsets (witx-calculated, wasm32).
inline constexpr std::uint32_t kIovecSize = 8;  // buf u32 @0, buf_len u32 @4
inline constexpr std::uint32_t kFdstatSize =
    24;  // filetype u8 @0, flags u16 @2, base u64 @8, inheriting u64 @16
inline constexpr std::uint32_t kFilestatSize =
    64;  // dev @0 ino @8 filetype u8 @16 nlink @24 size @32 atim @40 mtim @48 ctim @56
inline constexpr std::uint32_t kDirentSize =
    24;  // d_next u64 @0, d_ino u64 @8, d_namlen u32 @16, d_type u8 @20
inline constexpr std::uint32_t kPrestatSize = 8;        // tag u8 @0, pr_name_len u32 @4
inline constexpr std::uint32_t kSubscriptionSize = 48;  // userdata u64 @0, tag u8 @8, union @16
inline constexpr std::uint32_t kEventSize =
    32;  // userdata @0, error u16 @8, type u8 @10, nbytes u64 @16, flags u16 @24

}  // namespace zlayer::wasm::wasi::abi
