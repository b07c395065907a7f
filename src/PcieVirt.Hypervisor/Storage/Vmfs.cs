using System.Buffers.Binary;
using System.Text;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using static PcieVirt.Hypervisor.Storage.VmfsFormat;
using L = PcieVirt.Hypervisor.Storage.VmfsLayout;

namespace PcieVirt.Hypervisor.Storage;

/// <summary>What <see cref="Vmfs.Files"/> lists about a file.</summary>
/// <param name="Name">File name.</param>
/// <param name="SizeBytes">Logical size.</param>
/// <param name="Thin">Blocks are allocated on first write.</param>
/// <param name="AllocatedBytes">File blocks allocated, in bytes.</param>
/// <param name="LockOwner">Host holding the file open (0 = none).</param>
/// <param name="LockGeneration">Incremented at each lock change.</param>
public readonly record struct VmfsFileInfo(string Name, ulong SizeBytes, bool Thin, ulong AllocatedBytes, ulong LockOwner, ulong LockGeneration);

/// <summary>
/// A small VMFS-like file system on a block device (our design, spec-notes/vmfs.md): a superblock, a bitmap
/// of file blocks, a bitmap of pointer blocks, a table of file descriptors (name, size, thin or
/// eager-zeroed, lock record, 16 direct pointers and 64 pointer-block pointers) and a pointer-block region.
/// Files hold guests' virtual disks. Metadata is written synchronously through <see cref="ISyncBlockIo"/>;
/// the data path only maps file offsets to device LBAs (<see cref="VmfsFile.TryMap"/>).
/// A mount validates everything and reports corruption as <see cref="VmfsException"/>.
/// Allocation is done by one host at a time (the mounting host); file locks are re-read from disk on
/// open, so hosts sharing the device cannot open the same file at once.
/// </summary>
public sealed class Vmfs
{
    readonly ISyncBlockIo _dev;
    readonly ILogger _log;
    readonly L _layout;
    readonly byte[] _bitmap;
    readonly byte[] _pbBitmap;
    readonly byte[] _fdt;
    readonly VmfsFile?[] _open;
    readonly byte[] _meta = new byte[L.MetaBlockSize];
    byte[]? _zeros;
    uint _freeBlocks, _freePbs, _nextFit;

    Vmfs(ISyncBlockIo dev, L layout, int fileBlockSize, Guid uuid, string label, ulong hostId, ILogger? logger)
    {
        _dev = dev;
        _log = logger ?? NullLogger.Instance;
        _layout = layout;
        FileBlockSize = fileBlockSize;
        Uuid = uuid;
        Label = label;
        HostId = hostId;
        _bitmap = new byte[layout.BitmapBlocks * L.MetaBlockSize];
        _pbBitmap = new byte[layout.PbBitmapBlocks * L.MetaBlockSize];
        _fdt = new byte[layout.FdtBlocks * L.MetaBlockSize];
        _open = new VmfsFile?[layout.MaxFiles];
    }

    /// <summary>The device the volume is on.</summary>
    public ISyncBlockIo Device => _dev;
    /// <summary>Volume UUID.</summary>
    public Guid Uuid { get; }
    /// <summary>Volume label.</summary>
    public string Label { get; }
    /// <summary>Host that mounted the volume (owner of files it creates).</summary>
    public ulong HostId { get; }
    /// <summary>Allocation unit of files, in bytes.</summary>
    public int FileBlockSize { get; }
    /// <summary>File blocks on the volume (including those holding metadata).</summary>
    public uint FileBlockCount => _layout.FileBlockCount;
    /// <summary>File blocks taken by the volume's own metadata (file blocks 0..n-1).</summary>
    public uint MetadataFileBlocks => _layout.MetadataFileBlocks;
    /// <summary>Entries of the file descriptor table.</summary>
    public int MaxFiles => (int)_layout.MaxFiles;
    /// <summary>Free file blocks.</summary>
    public uint FreeFileBlocks => _freeBlocks;
    /// <summary>Free space in bytes.</summary>
    public ulong FreeBytes => (ulong)_freeBlocks * (ulong)FileBlockSize;
    /// <summary>Free pointer blocks.</summary>
    public uint FreePointerBlocks => _freePbs;
    /// <summary>Largest file: direct blocks plus what the pointer blocks reach.</summary>
    public ulong MaxFileSize => (ulong)(L.DirectPointers + L.IndirectPointers * L.EntriesPerPointerBlock) * (ulong)FileBlockSize;
    /// <summary>File blocks leaked (marked used, referenced by no file: an allocation interrupted before its descriptor was written); found at mount.</summary>
    public uint LeakedFileBlocks { get; private set; }

    int DevPerMeta => L.MetaBlockSize / _dev.BlockSize;

    // ------------------------------------------------------------------ format and mount

    /// <summary>Writes an empty volume on <paramref name="dev"/> and returns it mounted.</summary>
    public static Vmfs Format(ISyncBlockIo dev, VmfsFormatOptions o, ILogger? logger = null)
    {
        CheckDevice(dev);
        if (o.FileBlockSize < L.MetaBlockSize || o.FileBlockSize > 256 << 20 || (o.FileBlockSize & (o.FileBlockSize - 1)) != 0)
            throw new ArgumentException($"file block size {o.FileBlockSize} must be a power of two in 4 KiB..256 MiB", nameof(o));
        if (o.MaxFiles is < 1 or > 65536) throw new ArgumentException($"MaxFiles {o.MaxFiles} must be 1..65536", nameof(o));
        if (o.HostId == 0) throw new ArgumentException("host id 0 means 'no owner'", nameof(o));
        if (Encoding.UTF8.GetByteCount(o.Label) >= L.NameBytes) throw new ArgumentException("label is longer than 63 UTF-8 bytes", nameof(o));
        ulong bytes = dev.BlockCount * (ulong)dev.BlockSize;
        ulong fileBlocks = bytes / (ulong)o.FileBlockSize;
        if (fileBlocks > uint.MaxValue - 1) throw new ArgumentException($"{fileBlocks} file blocks: choose a larger file block size", nameof(o));
        var layout = L.Compute(o.FileBlockSize, (uint)fileBlocks, (uint)o.MaxFiles);
        if (layout.MetadataFileBlocks >= fileBlocks)
            throw new ArgumentException($"device of {bytes} bytes has no room for data after {layout.MetadataFileBlocks} metadata file blocks", nameof(o));

        var v = new Vmfs(dev, layout, o.FileBlockSize, UuidFromSeed(o.Seed), o.Label, o.HostId, logger);
        var sb = new byte[L.MetaBlockSize];
        v.WriteSuperblockFields(sb, dev.BlockCount);
        for (uint b = 0; b < layout.MetadataFileBlocks; b++) SetBit(v._bitmap, b, true);
        v.WriteMetaRange(layout.BitmapStart, v._bitmap);
        v.WriteMetaRange(layout.PbBitmapStart, v._pbBitmap);
        v.WriteMetaRange(layout.FdtStart, v._fdt);
        // The superblock goes last: a format interrupted before it leaves no volume that looks valid.
        v.WriteMetaRange(0, sb);
        dev.Flush();
        v._freeBlocks = layout.FileBlockCount - layout.MetadataFileBlocks;
        v._freePbs = layout.PbCount;
        v._nextFit = layout.MetadataFileBlocks;
        Log.Formatted(v._log, v.Uuid, v.Label, layout.FileBlockCount, o.FileBlockSize);
        return v;
    }

    /// <summary>Reads and validates the volume on <paramref name="dev"/>; throws <see cref="VmfsException"/> on anything inconsistent.</summary>
    public static Vmfs Mount(ISyncBlockIo dev, ulong hostId = 1, ILogger? logger = null)
    {
        CheckDevice(dev);
        if (hostId == 0) throw new ArgumentException("host id 0 means 'no owner'", nameof(hostId));
        if (dev.BlockCount < (ulong)(L.MetaBlockSize / dev.BlockSize)) throw new VmfsException("device is smaller than a superblock");
        var sb = new byte[L.MetaBlockSize];
        dev.Read(0, sb);
        ulong magic = BinaryPrimitives.ReadUInt64LittleEndian(sb);
        if (magic != Magic) throw new VmfsException($"no VMFS superblock: magic is 0x{magic:x16}, expected 0x{Magic:x16}");
        uint version = U32(sb, SbVersion);
        if (version != FormatVersion) throw new VmfsException($"superblock version {version} is not supported (this implementation reads {FormatVersion})");
        if (!IsSealed(sb)) throw new VmfsException("superblock checksum mismatch (the superblock is corrupted)");
        if (U32(sb, SbDeviceBlockSize) != dev.BlockSize)
            throw new VmfsException($"superblock was written for {U32(sb, SbDeviceBlockSize)}-byte device blocks, the device has {dev.BlockSize}");
        if (U32(sb, SbMetaBlockSize) != L.MetaBlockSize) throw new VmfsException($"superblock metadata block size {U32(sb, SbMetaBlockSize)} is not {L.MetaBlockSize}");
        uint fbs = U32(sb, SbFileBlockSize);
        if (fbs < L.MetaBlockSize || fbs > 256 << 20 || (fbs & (fbs - 1)) != 0) throw new VmfsException($"superblock file block size {fbs} is invalid");
        ulong devBlocks = BinaryPrimitives.ReadUInt64LittleEndian(sb.AsSpan(SbDeviceBlockCount));
        if (devBlocks > dev.BlockCount) throw new VmfsException($"volume spans {devBlocks} device blocks, the device has only {dev.BlockCount}");
        ulong expectFileBlocks = devBlocks * (ulong)dev.BlockSize / fbs;
        uint maxFiles = U32(sb, SbMaxFiles);
        if (maxFiles is < 1 or > 65536) throw new VmfsException($"superblock descriptor count {maxFiles} is invalid");
        if (U32(sb, SbFileBlockCount) != expectFileBlocks)
            throw new VmfsException($"superblock file block count {U32(sb, SbFileBlockCount)} does not match the volume size ({expectFileBlocks})");
        if (U32(sb, SbDirectPointers) != L.DirectPointers || U32(sb, SbIndirectPointers) != L.IndirectPointers || U32(sb, SbEntriesPerPointerBlock) != L.EntriesPerPointerBlock)
            throw new VmfsException("superblock block-map geometry differs from this implementation's (16 direct, 64 indirect, 1024 per pointer block)");
        var layout = L.Compute((int)fbs, (uint)expectFileBlocks, maxFiles);
        CheckField(sb, SbBitmapStart, layout.BitmapStart, "bitmap start");
        CheckField(sb, SbBitmapBlocks, layout.BitmapBlocks, "bitmap blocks");
        CheckField(sb, SbPbBitmapStart, layout.PbBitmapStart, "pointer-block bitmap start");
        CheckField(sb, SbPbBitmapBlocks, layout.PbBitmapBlocks, "pointer-block bitmap blocks");
        CheckField(sb, SbFdtStart, layout.FdtStart, "descriptor table start");
        CheckField(sb, SbFdtBlocks, layout.FdtBlocks, "descriptor table blocks");
        CheckField(sb, SbPbStart, layout.PbStart, "pointer-block region start");
        CheckField(sb, SbPbCount, layout.PbCount, "pointer-block count");
        CheckField(sb, SbMetadataFileBlocks, layout.MetadataFileBlocks, "metadata file blocks");
        if (layout.MetadataFileBlocks >= layout.FileBlockCount) throw new VmfsException("metadata fills the whole volume");
        var label = ReadName(sb.AsSpan(SbLabel, L.NameBytes), "volume label");

        var v = new Vmfs(dev, layout, (int)fbs, new Guid(sb.AsSpan(SbUuid, 16)), label, hostId, logger);
        v.ReadMetaRange(layout.BitmapStart, v._bitmap);
        v.ReadMetaRange(layout.PbBitmapStart, v._pbBitmap);
        v.ReadMetaRange(layout.FdtStart, v._fdt);
        v.Validate();
        Log.Mounted(v._log, v.Uuid, v.Label, hostId, v._freeBlocks, v.LeakedFileBlocks);
        return v;
    }

    static void CheckDevice(ISyncBlockIo dev)
    {
        if (dev.BlockSize < 512 || dev.BlockSize > L.MetaBlockSize || (dev.BlockSize & (dev.BlockSize - 1)) != 0)
            throw new ArgumentException($"device block size {dev.BlockSize} is not a power of two in 512..4096");
    }

    static void CheckField(byte[] sb, int offset, uint expected, string what)
    {
        uint actual = U32(sb, offset);
        if (actual != expected) throw new VmfsException($"superblock {what} is {actual}, the geometry gives {expected}");
    }

    /// <summary>Cross-checks descriptors, block maps and bitmaps; fills the free counts.</summary>
    void Validate()
    {
        var seen = new byte[_bitmap.Length];
        var seenPb = new byte[_pbBitmap.Length];
        var names = new HashSet<string>(StringComparer.Ordinal);
        for (uint b = 0; b < _layout.MetadataFileBlocks; b++)
        {
            if (!GetBit(_bitmap, b)) throw new VmfsException($"bitmap: metadata file block {b} is marked free");
            SetBit(seen, b, true);
        }
        var pb = new byte[L.MetaBlockSize];
        for (int i = 0; i < MaxFiles; i++)
        {
            var d = Descriptor(i);
            uint magic = BinaryPrimitives.ReadUInt32LittleEndian(d);
            if (magic == 0)
            {
                if (d.ContainsAnyExcept((byte)0)) throw new VmfsException($"descriptor {i}: marked free but not cleared");
                continue;
            }
            if (magic != DescriptorMagic) throw new VmfsException($"descriptor {i}: bad magic 0x{magic:x8}");
            if (!IsSealed(d)) throw new VmfsException($"descriptor {i}: checksum mismatch (the descriptor is corrupted)");
            string name = ReadName(d.Slice(FdName, L.NameBytes), $"descriptor {i} name");
            if (name.Length == 0) throw new VmfsException($"descriptor {i}: empty name");
            if (!names.Add(name)) throw new VmfsException($"descriptor {i}: duplicate name '{name}'");
            uint flags = U32(d, FdFlags);
            if ((flags & ~(FlagThin | FlagEagerZeroed)) != 0 || (flags & (FlagThin | FlagEagerZeroed)) is 0 or (FlagThin | FlagEagerZeroed))
                throw new VmfsException($"'{name}': invalid flags 0x{flags:x}");
            ulong size = U64(d, FdSize);
            if (size == 0 || size > MaxFileSize || size % (ulong)_dev.BlockSize != 0)
                throw new VmfsException($"'{name}': size {size} is invalid (must be a non-zero multiple of {_dev.BlockSize} up to {MaxFileSize})");
            long blocks = BlocksOf(size);
            uint count = 0;
            for (int k = 0; k < L.DirectPointers; k++)
                CheckPointer(name, k, U32(d, FdDirect + 4 * k), blocks, seen, ref count);
            for (int j = 0; j < L.IndirectPointers; j++)
            {
                uint p = U32(d, FdIndirect + 4 * j);
                long firstIndex = L.DirectPointers + (long)j * L.EntriesPerPointerBlock;
                if (p == 0) continue;
                if (firstIndex >= blocks) throw new VmfsException($"'{name}': pointer block slot {j} is set beyond the end of the file");
                if (p > _layout.PbCount) throw new VmfsException($"'{name}': pointer block {p} is outside 1..{_layout.PbCount}");
                if (!GetBit(_pbBitmap, p - 1)) throw new VmfsException($"'{name}': pointer block {p} is marked free in the pointer-block bitmap");
                if (GetBit(seenPb, p - 1)) throw new VmfsException($"'{name}': pointer block {p} is referenced twice");
                SetBit(seenPb, p - 1, true);
                ReadMeta(_layout.PbStart + p - 1, pb);
                for (int e = 0; e < L.EntriesPerPointerBlock; e++)
                    CheckPointer(name, firstIndex + e, U32(pb, 4 * e), blocks, seen, ref count);
            }
            if (count != U32(d, FdAllocatedBlocks))
                throw new VmfsException($"'{name}': descriptor counts {U32(d, FdAllocatedBlocks)} allocated blocks, its block map has {count}");
            if ((flags & FlagEagerZeroed) != 0 && count != blocks)
                throw new VmfsException($"'{name}': eager-zeroed file has {count} of its {blocks} blocks allocated");
        }
        uint used = 0, leaked = 0;
        for (uint b = 0; b < _layout.FileBlockCount; b++)
        {
            if (!GetBit(_bitmap, b)) continue;
            used++;
            if (!GetBit(seen, b)) leaked++;
        }
        for (uint b = _layout.FileBlockCount; b < (uint)_bitmap.Length * 8; b++)
            if (GetBit(_bitmap, b)) throw new VmfsException($"bitmap: bit {b} beyond the last file block is set");
        uint usedPb = 0;
        for (uint p = 0; p < _layout.PbCount; p++)
            if (GetBit(_pbBitmap, p)) usedPb++;
        _freeBlocks = _layout.FileBlockCount - used;
        _freePbs = _layout.PbCount - usedPb;
        LeakedFileBlocks = leaked;
        _nextFit = _layout.MetadataFileBlocks;
    }

    void CheckPointer(string name, long index, uint block, long blocks, byte[] seen, ref uint count)
    {
        if (block == 0) return;
        if (index >= blocks) throw new VmfsException($"'{name}': file block {index} is mapped beyond the end of the file");
        if (block < _layout.MetadataFileBlocks || block >= _layout.FileBlockCount)
            throw new VmfsException($"'{name}': file block {index} points to {block}, outside the data area {_layout.MetadataFileBlocks}..{_layout.FileBlockCount - 1}");
        if (!GetBit(_bitmap, block)) throw new VmfsException($"'{name}': file block {index} uses block {block}, which the bitmap marks free");
        if (GetBit(seen, block)) throw new VmfsException($"'{name}': block {block} is used twice (cross-linked)");
        SetBit(seen, block, true);
        count++;
    }

    // ------------------------------------------------------------------ files

    /// <summary>Every file on the volume.</summary>
    public IReadOnlyList<VmfsFileInfo> Files
    {
        get
        {
            var list = new List<VmfsFileInfo>();
            for (int i = 0; i < MaxFiles; i++)
            {
                var d = Descriptor(i);
                if (U32(d, FdMagic) != DescriptorMagic) continue;
                list.Add(new VmfsFileInfo(ReadName(d.Slice(FdName, L.NameBytes), "name"), U64(d, FdSize), (U32(d, FdFlags) & FlagThin) != 0,
                    (ulong)U32(d, FdAllocatedBlocks) * (ulong)FileBlockSize, U64(d, FdLockOwner), U64(d, FdLockGeneration)));
            }
            return list;
        }
    }

    /// <summary>
    /// Creates <paramref name="name"/> of <paramref name="sizeBytes"/> bytes: thin (blocks allocated on first
    /// write) or eager-zeroed (every block allocated and zeroed now). Returns it open and locked by <see cref="HostId"/>.
    /// </summary>
    public VmfsFile Create(string name, ulong sizeBytes, bool thin)
    {
        var nameBytes = CheckName(name);
        if (Find(name) >= 0) throw new VmfsException($"'{name}' already exists");
        if (sizeBytes == 0 || sizeBytes % (ulong)_dev.BlockSize != 0 || sizeBytes > MaxFileSize)
            throw new ArgumentOutOfRangeException(nameof(sizeBytes), $"size {sizeBytes} must be a non-zero multiple of {_dev.BlockSize} up to {MaxFileSize}");
        int slot = -1;
        for (int i = 0; i < MaxFiles && slot < 0; i++)
            if (U32(Descriptor(i), FdMagic) == 0) slot = i;
        if (slot < 0) throw new VmfsException($"descriptor table is full ({MaxFiles} files)");
        long blocks = BlocksOf(sizeBytes);
        if (!thin)
        {
            long pbs = Math.Max(0, blocks - L.DirectPointers);
            pbs = (pbs + L.EntriesPerPointerBlock - 1) / L.EntriesPerPointerBlock;
            if (blocks > _freeBlocks || pbs > _freePbs)
                throw new VmfsException($"'{name}': {blocks} file blocks needed, {_freeBlocks} free");
        }
        var d = Descriptor(slot);
        d.Clear();
        WriteU32(d, FdMagic, DescriptorMagic);
        WriteU32(d, FdFlags, thin ? FlagThin : FlagEagerZeroed);
        WriteU64(d, FdSize, sizeBytes);
        WriteU64(d, FdLockOwner, HostId);
        WriteU64(d, FdLockGeneration, 1);
        nameBytes.CopyTo(d.Slice(FdName));
        var file = new VmfsFile(this, slot, name, sizeBytes, thin, new uint[blocks], HostId);
        if (!thin)
            for (long b = 0; b < blocks; b++)
                if (!AllocateBlock(file, b, persistDescriptor: false)) throw new VmfsException($"'{name}': out of space while allocating"); // checked above
        WriteDescriptor(slot);
        _dev.Flush();
        _open[slot] = file;
        Log.Created(_log, name, sizeBytes, thin);
        return file;
    }

    /// <summary>
    /// Opens <paramref name="name"/> for <paramref name="hostId"/>: the lock record is re-read from the device
    /// and must be free or already held by that host; it is then taken (owner, generation + 1).
    /// </summary>
    public VmfsFile Open(string name, ulong hostId)
    {
        if (hostId == 0) throw new ArgumentException("host id 0 means 'no owner'", nameof(hostId));
        int slot = Find(name);
        if (slot < 0) throw new VmfsException($"'{name}' does not exist");
        RefreshDescriptor(slot);
        var d = Descriptor(slot);
        ulong owner = U64(d, FdLockOwner);
        if (owner != 0 && owner != hostId)
        {
            Log.LockConflict(_log, name, hostId, owner);
            throw new VmfsException($"'{name}' is locked by host {owner} (generation {U64(d, FdLockGeneration)}); host {hostId} cannot open it");
        }
        if (_open[slot] is { } already && already.LockOwner == hostId) return already;
        WriteU64(d, FdLockOwner, hostId);
        WriteU64(d, FdLockGeneration, U64(d, FdLockGeneration) + 1);
        WriteDescriptor(slot);
        _dev.Flush();
        var file = new VmfsFile(this, slot, name, U64(d, FdSize), (U32(d, FdFlags) & FlagThin) != 0, LoadMap(slot), hostId);
        _open[slot] = file;
        return file;
    }

    /// <summary>Deletes <paramref name="name"/>, freeing its blocks; refused while any host holds its lock.</summary>
    public void Delete(string name)
    {
        int slot = Find(name);
        if (slot < 0) throw new VmfsException($"'{name}' does not exist");
        RefreshDescriptor(slot);
        var d = Descriptor(slot);
        ulong owner = U64(d, FdLockOwner);
        if (owner != 0) throw new VmfsException($"'{name}' is open (locked by host {owner}); close it before deleting");
        var map = LoadMap(slot);
        foreach (uint b in map)
            if (b != 0) FreeBit(b);
        for (int j = 0; j < L.IndirectPointers; j++)
        {
            uint p = U32(d, FdIndirect + 4 * j);
            if (p == 0) continue;
            SetBit(_pbBitmap, p - 1, false);
            _freePbs++;
            WriteBitmapBlockOf(_pbBitmap, _layout.PbBitmapStart, p - 1);
        }
        WriteBitmapsTouched(map);
        d.Clear();
        WriteDescriptor(slot);
        _dev.Flush();
        _open[slot] = null;
        Log.Deleted(_log, name);
    }

    internal void Release(VmfsFile file)
    {
        RefreshDescriptor(file.Slot);
        var d = Descriptor(file.Slot);
        if (U64(d, FdLockOwner) == file.LockOwner)
        {
            WriteU64(d, FdLockOwner, 0);
            WriteU64(d, FdLockGeneration, U64(d, FdLockGeneration) + 1);
            WriteDescriptor(file.Slot);
            _dev.Flush();
        }
        if (_open[file.Slot] == file) _open[file.Slot] = null;
    }

    /// <summary>Lock generation of <paramref name="name"/> as on the device now.</summary>
    public ulong LockGeneration(string name)
    {
        int slot = Find(name);
        if (slot < 0) throw new VmfsException($"'{name}' does not exist");
        RefreshDescriptor(slot);
        return U64(Descriptor(slot), FdLockGeneration);
    }

    int Find(string name)
    {
        for (int i = 0; i < MaxFiles; i++)
        {
            var d = Descriptor(i);
            if (U32(d, FdMagic) == DescriptorMagic && NameEquals(d.Slice(FdName, L.NameBytes), name)) return i;
        }
        return -1;
    }

    static bool NameEquals(ReadOnlySpan<byte> field, string name)
    {
        int len = field.IndexOf((byte)0);
        if (len < 0) len = field.Length;
        return Encoding.UTF8.GetString(field[..len]) == name;
    }

    static byte[] CheckName(string name)
    {
        var b = Encoding.UTF8.GetBytes(name);
        if (b.Length == 0 || b.Length >= L.NameBytes) throw new ArgumentException($"file name '{name}' must be 1..63 UTF-8 bytes", nameof(name));
        if (name.Contains('/') || name.Contains('\0')) throw new ArgumentException($"file name '{name}' contains '/' or NUL", nameof(name));
        return b;
    }

    uint[] LoadMap(int slot)
    {
        var d = Descriptor(slot);
        var map = new uint[BlocksOf(U64(d, FdSize))];
        for (int k = 0; k < L.DirectPointers && k < map.Length; k++) map[k] = U32(d, FdDirect + 4 * k);
        var pb = new byte[L.MetaBlockSize];
        for (int j = 0; j < L.IndirectPointers; j++)
        {
            uint p = U32(d, FdIndirect + 4 * j);
            if (p == 0) continue;
            ReadMeta(_layout.PbStart + p - 1, pb);
            long first = L.DirectPointers + (long)j * L.EntriesPerPointerBlock;
            for (int e = 0; e < L.EntriesPerPointerBlock && first + e < map.Length; e++) map[first + e] = U32(pb, 4 * e);
        }
        return map;
    }

    long BlocksOf(ulong size) => (long)((size + (ulong)FileBlockSize - 1) / (ulong)FileBlockSize);

    // ------------------------------------------------------------------ allocation

    /// <summary>
    /// Gives file block <paramref name="index"/> of <paramref name="file"/> a zeroed volume block and persists
    /// the block map (data zeroed, then bitmaps and pointer block, then the descriptor: an interruption leaks
    /// a block at worst). False when the volume is full.
    /// </summary>
    internal bool AllocateBlock(VmfsFile file, long index, bool persistDescriptor = true)
    {
        if (_freeBlocks == 0) return false;
        var d = Descriptor(file.Slot);
        int pbSlot = -1;
        uint pb = 0;
        if (index >= L.DirectPointers)
        {
            pbSlot = (int)((index - L.DirectPointers) / L.EntriesPerPointerBlock);
            pb = U32(d, FdIndirect + 4 * pbSlot);
            if (pb == 0 && _freePbs == 0) return false;
        }
        uint block = FindFree();
        SetBit(_bitmap, block, true);
        _freeBlocks--;
        ZeroBlock(block);
        WriteBitmapBlockOf(_bitmap, _layout.BitmapStart, block);
        file.Map[index] = block;
        if (pbSlot < 0) WriteU32(d, FdDirect + 4 * (int)index, block);
        else
        {
            if (pb == 0)
            {
                pb = FindFreePb() + 1;
                SetBit(_pbBitmap, pb - 1, true);
                _freePbs--;
                WriteBitmapBlockOf(_pbBitmap, _layout.PbBitmapStart, pb - 1);
                WriteU32(d, FdIndirect + 4 * pbSlot, pb);
            }
            WritePointerBlock(file, pbSlot, pb);
        }
        WriteU32(d, FdAllocatedBlocks, U32(d, FdAllocatedBlocks) + 1);
        if (persistDescriptor) WriteDescriptor(file.Slot);
        Log.BlockAllocated(_log, file.Name, index, block);
        return true;
    }

    void WritePointerBlock(VmfsFile file, int pbSlot, uint pb)
    {
        Array.Clear(_meta);
        long first = L.DirectPointers + (long)pbSlot * L.EntriesPerPointerBlock;
        for (int e = 0; e < L.EntriesPerPointerBlock && first + e < file.Map.Length; e++) WriteU32(_meta, 4 * e, file.Map[first + e]);
        WriteMeta(_layout.PbStart + pb - 1, _meta);
    }

    uint FindFree()
    {
        uint n = _layout.FileBlockCount;
        for (uint k = 0; k < n; k++)
        {
            uint b = _nextFit + k;
            if (b >= n) b = b - n + _layout.MetadataFileBlocks;
            if (b >= n || b < _layout.MetadataFileBlocks) continue;
            if (!GetBit(_bitmap, b))
            {
                _nextFit = b + 1 >= n ? _layout.MetadataFileBlocks : b + 1;
                return b;
            }
        }
        throw new VmfsException("bitmap has no free block although the free count is not zero");
    }

    uint FindFreePb()
    {
        for (uint p = 0; p < _layout.PbCount; p++)
            if (!GetBit(_pbBitmap, p)) return p;
        throw new VmfsException("pointer-block bitmap has no free entry although the free count is not zero");
    }

    void FreeBit(uint block)
    {
        SetBit(_bitmap, block, false);
        _freeBlocks++;
    }

    /// <summary>Writes each bitmap block holding a bit of <paramref name="map"/>'s blocks once.</summary>
    void WriteBitmapsTouched(uint[] map)
    {
        var blocks = new SortedSet<uint>();
        foreach (uint b in map)
            if (b != 0) blocks.Add(b / L.BitsPerBlock);
        foreach (uint bb in blocks) WriteMeta(_layout.BitmapStart + bb, _bitmap.AsSpan((int)bb * L.MetaBlockSize, L.MetaBlockSize));
    }

    void WriteBitmapBlockOf(byte[] bitmap, uint start, uint bit)
    {
        uint bb = bit / L.BitsPerBlock;
        WriteMeta(start + bb, bitmap.AsSpan((int)bb * L.MetaBlockSize, L.MetaBlockSize));
    }

    void ZeroBlock(uint block)
    {
        _zeros ??= new byte[Math.Min(FileBlockSize, 128 * 1024)];
        ulong lba = (ulong)block * (ulong)(FileBlockSize / _dev.BlockSize);
        int per = _zeros.Length / _dev.BlockSize;
        for (int done = 0; done < FileBlockSize; done += _zeros.Length, lba += (ulong)per) _dev.Write(lba, _zeros);
    }

    // ------------------------------------------------------------------ metadata I/O

    Span<byte> Descriptor(int slot) => _fdt.AsSpan(slot * L.DescriptorSize, L.DescriptorSize);

    /// <summary>Re-reads one descriptor from the device (another host may have changed its lock).</summary>
    void RefreshDescriptor(int slot)
    {
        var (lba, offset, blocks) = DescriptorLocation(slot);
        Span<byte> buf = stackalloc byte[blocks * _dev.BlockSize];
        _dev.Read(lba, buf);
        var d = buf.Slice(offset, L.DescriptorSize);
        if (U32(d, FdMagic) == DescriptorMagic && !IsSealed(d)) throw new VmfsException($"descriptor {slot}: checksum mismatch on re-read");
        d.CopyTo(Descriptor(slot));
    }

    /// <summary>Seals and writes one descriptor, read-modify-write of the device blocks holding it, so neighbours another host changed are kept.</summary>
    void WriteDescriptor(int slot)
    {
        var d = Descriptor(slot);
        if (U32(d, FdMagic) == DescriptorMagic) Seal(d);
        var (lba, offset, blocks) = DescriptorLocation(slot);
        Span<byte> buf = stackalloc byte[blocks * _dev.BlockSize];
        if (offset != 0 || buf.Length != L.DescriptorSize) _dev.Read(lba, buf);
        d.CopyTo(buf.Slice(offset));
        _dev.Write(lba, buf);
    }

    (ulong Lba, int Offset, int Blocks) DescriptorLocation(int slot)
    {
        ulong byteAt = (ulong)_layout.FdtStart * L.MetaBlockSize + (ulong)slot * L.DescriptorSize;
        ulong lba = byteAt / (ulong)_dev.BlockSize;
        int offset = (int)(byteAt % (ulong)_dev.BlockSize);
        int blocks = (offset + L.DescriptorSize + _dev.BlockSize - 1) / _dev.BlockSize;
        return (lba, offset, blocks);
    }

    void WriteSuperblockFields(byte[] sb, ulong deviceBlocks)
    {
        WriteU64(sb, SbMagic, Magic);
        WriteU32(sb, SbVersion, FormatVersion);
        WriteU32(sb, SbDeviceBlockSize, (uint)_dev.BlockSize);
        Uuid.TryWriteBytes(sb.AsSpan(SbUuid, 16));
        WriteU32(sb, SbMetaBlockSize, L.MetaBlockSize);
        WriteU32(sb, SbFileBlockSize, (uint)FileBlockSize);
        WriteU64(sb, SbDeviceBlockCount, deviceBlocks);
        WriteU32(sb, SbFileBlockCount, _layout.FileBlockCount);
        WriteU32(sb, SbMaxFiles, _layout.MaxFiles);
        WriteU32(sb, SbBitmapStart, _layout.BitmapStart);
        WriteU32(sb, SbBitmapBlocks, _layout.BitmapBlocks);
        WriteU32(sb, SbPbBitmapStart, _layout.PbBitmapStart);
        WriteU32(sb, SbPbBitmapBlocks, _layout.PbBitmapBlocks);
        WriteU32(sb, SbFdtStart, _layout.FdtStart);
        WriteU32(sb, SbFdtBlocks, _layout.FdtBlocks);
        WriteU32(sb, SbPbStart, _layout.PbStart);
        WriteU32(sb, SbPbCount, _layout.PbCount);
        WriteU32(sb, SbMetadataFileBlocks, _layout.MetadataFileBlocks);
        WriteU32(sb, SbDirectPointers, L.DirectPointers);
        WriteU32(sb, SbIndirectPointers, L.IndirectPointers);
        WriteU32(sb, SbEntriesPerPointerBlock, L.EntriesPerPointerBlock);
        Encoding.UTF8.GetBytes(Label).CopyTo(sb.AsSpan(SbLabel));
        Seal(sb);
    }

    void ReadMeta(uint metaBlock, Span<byte> data) => _dev.Read((ulong)metaBlock * (ulong)DevPerMeta, data[..L.MetaBlockSize]);
    void WriteMeta(uint metaBlock, ReadOnlySpan<byte> data) => _dev.Write((ulong)metaBlock * (ulong)DevPerMeta, data[..L.MetaBlockSize]);
    void ReadMetaRange(uint start, byte[] data) => _dev.Read((ulong)start * (ulong)DevPerMeta, data);
    void WriteMetaRange(uint start, byte[] data) => _dev.Write((ulong)start * (ulong)DevPerMeta, data);

    static string ReadName(ReadOnlySpan<byte> field, string what)
    {
        int len = field.IndexOf((byte)0);
        if (len < 0) throw new VmfsException($"{what} is not NUL-terminated");
        try
        {
            return new UTF8Encoding(false, true).GetString(field[..len]);
        }
        catch (DecoderFallbackException)
        {
            throw new VmfsException($"{what} is not valid UTF-8");
        }
    }

    static bool GetBit(byte[] map, uint bit) => (map[bit >> 3] & (1 << (int)(bit & 7))) != 0;
    static void SetBit(byte[] map, uint bit, bool value)
    {
        if (value) map[bit >> 3] |= (byte)(1 << (int)(bit & 7));
        else map[bit >> 3] &= (byte)~(1 << (int)(bit & 7));
    }

    static uint U32(ReadOnlySpan<byte> b, int at) => BinaryPrimitives.ReadUInt32LittleEndian(b[at..]);
    static ulong U64(ReadOnlySpan<byte> b, int at) => BinaryPrimitives.ReadUInt64LittleEndian(b[at..]);
    static void WriteU32(Span<byte> b, int at, uint v) => BinaryPrimitives.WriteUInt32LittleEndian(b[at..], v);
    static void WriteU64(Span<byte> b, int at, ulong v) => BinaryPrimitives.WriteUInt64LittleEndian(b[at..], v);
}
