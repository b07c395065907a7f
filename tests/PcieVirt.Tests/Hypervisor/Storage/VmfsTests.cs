using System.Buffers.Binary;
using System.Text;
using PcieVirt.Hypervisor.Storage;

namespace PcieVirt.Tests.Hypervisor.Storage;

/// <summary>
/// The VMFS-like file system on an in-memory device. Expected layouts and LBAs are worked out by hand from the
/// on-disk format in spec-notes/vmfs.md (4 KiB metadata blocks, 512-byte descriptors, 16 direct pointers,
/// 64 pointer-block pointers, 1024 entries per pointer block).
/// </summary>
[TestFixture]
public class VmfsTests
{
    const int Kib = 1024;

    // 64 MiB of 512-byte blocks, 64 KiB file blocks, 16 descriptors:
    // 1024 file blocks; bitmap at meta block 1 (1 block), pointer-block bitmap at 2 (1), descriptors at 3 (2 blocks),
    // pointer blocks at 5 (1024/1024 + 16 = 17 of them): metadata ends at 22 * 4 KiB = 88 KiB -> 2 file blocks.
    static MemoryBlockDevice SmallDevice() => new(512, 64UL * Kib * Kib / 512);
    static VmfsFormatOptions Small => new() { FileBlockSize = 64 * Kib, MaxFiles = 16, Seed = 42, Label = "ds-test" };

    static uint Fnv1a(ReadOnlySpan<byte> data)
    {
        uint h = 0x811C9DC5;
        foreach (byte b in data) h = (h ^ b) * 0x01000193;
        return h;
    }

    static byte[] ReadBytes(ISyncBlockIo dev, ulong byteOffset, int length)
    {
        var buf = new byte[length];
        dev.Read(byteOffset / (ulong)dev.BlockSize, buf);
        return buf;
    }

    static void WriteBytes(ISyncBlockIo dev, ulong byteOffset, byte[] data) => dev.Write(byteOffset / (ulong)dev.BlockSize, data);

    /// <summary>Rewrites a 4 KiB metadata block or 512-byte descriptor after <paramref name="edit"/>, resealing its trailing FNV-1a.</summary>
    static void EditSealed(ISyncBlockIo dev, ulong byteOffset, int length, Action<byte[]> edit)
    {
        var b = ReadBytes(dev, byteOffset, length);
        edit(b);
        BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(length - 4), Fnv1a(b.AsSpan(0, length - 4)));
        WriteBytes(dev, byteOffset, b);
    }

    [Test]
    public void Format_WritesTheDocumentedLayout()
    {
        var dev = SmallDevice();
        var v = Vmfs.Format(dev, Small);
        Assert.That(v.FileBlockCount, Is.EqualTo(1024u));
        Assert.That(v.MetadataFileBlocks, Is.EqualTo(2u));
        Assert.That(v.FreeFileBlocks, Is.EqualTo(1022u));
        Assert.That(v.FreeBytes, Is.EqualTo(1022UL * 64 * Kib));
        Assert.That(v.MaxFileSize, Is.EqualTo((16UL + 64 * 1024) * 64 * Kib));
        var sb = ReadBytes(dev, 0, 4096);
        Assert.That(Encoding.ASCII.GetString(sb, 0, 8), Is.EqualTo("PVVMFS01"));
        Assert.That(BinaryPrimitives.ReadUInt32LittleEndian(sb.AsSpan(36)), Is.EqualTo(64u * Kib), "file block size");
        Assert.That(BinaryPrimitives.ReadUInt32LittleEndian(sb.AsSpan(72)), Is.EqualTo(3u), "descriptor table start");
        Assert.That(BinaryPrimitives.ReadUInt32LittleEndian(sb.AsSpan(80)), Is.EqualTo(5u), "pointer block region start");
        Assert.That(BinaryPrimitives.ReadUInt32LittleEndian(sb.AsSpan(84)), Is.EqualTo(17u), "pointer blocks");
        Assert.That(BinaryPrimitives.ReadUInt32LittleEndian(sb.AsSpan(4092)), Is.EqualTo(Fnv1a(sb.AsSpan(0, 4092))), "FNV-1a seal");
        // The bitmap at meta block 1 marks the two metadata file blocks, nothing else.
        var bitmap = ReadBytes(dev, 4096, 4096);
        Assert.That(bitmap[0], Is.EqualTo(0b11));
        Assert.That(bitmap.AsSpan(1).ContainsAnyExcept((byte)0), Is.False);
    }

    [Test]
    public void Uuid_IsDeterministicPerSeed_AndVersion4()
    {
        var a = Vmfs.Format(SmallDevice(), Small);
        var b = Vmfs.Format(SmallDevice(), Small);
        var c = Vmfs.Format(SmallDevice(), Small with { Seed = 43 });
        Assert.That(a.Uuid, Is.EqualTo(b.Uuid));
        Assert.That(a.Uuid, Is.Not.EqualTo(c.Uuid));
        Assert.That(a.Uuid.ToString()[14], Is.EqualTo('4'), "version nibble");
        Assert.That(a.Uuid.ToString()[19], Is.AnyOf('8', '9', 'a', 'b'), "RFC 4122 variant");
    }

    [Test]
    public void FormatMount_RoundTrip_KeepsFilesAndSpace()
    {
        var dev = SmallDevice();
        var v = Vmfs.Format(dev, Small);
        var thin = v.Create("thin.vmdk", 2UL * Kib * Kib, thin: true);
        Assert.That(thin.TryMapForWrite(0, 512, out _, out _), Is.True);
        v.Create("thick.vmdk", 1UL * Kib * Kib, thin: false);
        thin.Close();
        var m = Vmfs.Mount(dev, hostId: 2);
        Assert.That(m.Uuid, Is.EqualTo(v.Uuid));
        Assert.That(m.Label, Is.EqualTo("ds-test"));
        Assert.That(m.FileBlockSize, Is.EqualTo(64 * Kib));
        Assert.That(m.FreeFileBlocks, Is.EqualTo(1022u - 1 - 16), "one thin block, sixteen eager-zeroed blocks");
        Assert.That(m.LeakedFileBlocks, Is.Zero);
        var files = m.Files.OrderBy(f => f.Name).ToList();
        Assert.That(files.Select(f => f.Name), Is.EqualTo(new[] { "thick.vmdk", "thin.vmdk" }));
        Assert.That(files[0], Is.EqualTo(new VmfsFileInfo("thick.vmdk", 1UL * Kib * Kib, false, 16UL * 64 * Kib, 1, 1)));
        Assert.That(files[1], Is.EqualTo(new VmfsFileInfo("thin.vmdk", 2UL * Kib * Kib, true, 64UL * Kib, 0, 2)));
    }

    [Test]
    public void Mapping_AcrossFileBlockAndPointerBlockBoundaries_MatchesHandComputedLbas()
    {
        // 256 MiB device: 4096 file blocks of 64 KiB; 4096/1024 + 16 = 20 pointer blocks at meta block 5;
        // metadata ends at 25 * 4 KiB -> file blocks 0-1; the first data block is 2. 128 device blocks per file block.
        var dev = new MemoryBlockDevice(512, 256UL * Kib * Kib / 512);
        var v = Vmfs.Format(dev, Small);
        var f = v.Create("big.vmdk", 1100UL * 64 * Kib, thin: true);
        ulong B(long index) => (ulong)index * 64 * Kib;
        // First writes, in this order, take blocks 2, 3, 4, 5: index 15 (last direct), 16 (pointer block 1 entry 0),
        // 1039 (pointer block 1 entry 1023), 1040 (pointer block 2 entry 0).
        long[] order = [15, 16, 1039, 1040];
        for (int i = 0; i < order.Length; i++)
        {
            Assert.That(f.TryMapForWrite(B(order[i]), 512, out ulong lba, out int n), Is.True);
            Assert.That(lba, Is.EqualTo((ulong)(2 + i) * 128), $"file block {order[i]}");
            Assert.That(n, Is.EqualTo(512));
        }
        // Inside a block: 1536 bytes into file block 16 -> block 3, LBA 384 + 3; the rest of the block is contiguous.
        Assert.That(f.TryMap(B(16) + 1536, 1 << 20, out ulong l2, out int c2), Is.True);
        Assert.That((l2, c2), Is.EqualTo((384UL + 3, 64 * Kib - 1536)));
        // The last sector of file block 15 -> block 2's last LBA; the mapping stops at the block end.
        Assert.That(f.TryMap(B(16) - 512, 4096, out ulong l3, out int c3), Is.True);
        Assert.That((l3, c3), Is.EqualTo((2UL * 128 + 127, 512)));
        // A hole reports how far it reaches.
        Assert.That(f.TryMap(B(17) + 4096, 1 << 20, out ulong l4, out int c4), Is.False);
        Assert.That((l4, c4), Is.EqualTo((0UL, 64 * Kib - 4096)));
        // Never past the end of the file.
        Assert.That(f.TryMap(B(1099) + 60 * Kib, 1 << 20, out _, out int c5), Is.False);
        Assert.That(c5, Is.EqualTo(4 * Kib));

        // On disk: descriptor 0 at meta block 3; direct[15] at +104+60, indirect[0..1] at +168;
        // pointer block p at meta block 5 + p - 1.
        var d = ReadBytes(dev, 3 * 4096, 512);
        Assert.That(BinaryPrimitives.ReadUInt32LittleEndian(d.AsSpan(104 + 60)), Is.EqualTo(2u));
        Assert.That(BinaryPrimitives.ReadUInt32LittleEndian(d.AsSpan(168)), Is.EqualTo(1u));
        Assert.That(BinaryPrimitives.ReadUInt32LittleEndian(d.AsSpan(172)), Is.EqualTo(2u));
        Assert.That(BinaryPrimitives.ReadUInt32LittleEndian(d.AsSpan(32)), Is.EqualTo(4u), "allocated blocks");
        var pb1 = ReadBytes(dev, 5 * 4096, 4096);
        var pb2 = ReadBytes(dev, 6 * 4096, 4096);
        Assert.That(BinaryPrimitives.ReadUInt32LittleEndian(pb1.AsSpan(0)), Is.EqualTo(3u));
        Assert.That(BinaryPrimitives.ReadUInt32LittleEndian(pb1.AsSpan(4092)), Is.EqualTo(4u));
        Assert.That(BinaryPrimitives.ReadUInt32LittleEndian(pb2.AsSpan(0)), Is.EqualTo(5u));

        // After a remount the map is the same.
        f.Close();
        var f2 = Vmfs.Mount(dev).Open("big.vmdk", 1);
        Assert.That(f2.TryMap(B(1040), 512, out ulong l6, out _), Is.True);
        Assert.That(l6, Is.EqualTo(5UL * 128));
        Assert.That(f2.AllocatedBlocks, Is.EqualTo(4));
    }

    [Test]
    public void ThinAllocation_ZeroesTheNewBlock_AndUsesFreeSpace()
    {
        var dev = SmallDevice();
        // Stale data where the first data block will be.
        WriteBytes(dev, 2UL * 64 * Kib, Enumerable.Repeat((byte)0xAA, 64 * Kib).ToArray());
        var v = Vmfs.Format(dev, Small);
        var f = v.Create("t", 1UL * Kib * Kib, thin: true);
        Assert.That(f.AllocatedBlocks, Is.Zero);
        Assert.That(v.FreeFileBlocks, Is.EqualTo(1022u), "a thin file takes no space up front");
        Assert.That(f.TryMap(0, 512, out _, out _), Is.False, "hole");
        Assert.That(f.TryMapForWrite(4096, 512, out ulong lba, out _), Is.True);
        Assert.That(lba, Is.EqualTo(2UL * 128 + 8));
        Assert.That(v.FreeFileBlocks, Is.EqualTo(1021u));
        Assert.That(ReadBytes(dev, 2UL * 64 * Kib, 64 * Kib), Is.All.Zero, "stale data is not exposed through the new block");
        Assert.That(f.TryMap(0, 512, out ulong lba0, out _), Is.True, "the whole file block is now allocated");
        Assert.That(lba0, Is.EqualTo(2UL * 128));
    }

    [Test]
    public void EagerZeroed_AllocatesAndZeroesEverything_AtCreate()
    {
        var dev = SmallDevice();
        WriteBytes(dev, 2UL * 64 * Kib, Enumerable.Repeat((byte)0x5C, 4 * 64 * Kib).ToArray());
        var v = Vmfs.Format(dev, Small);
        var f = v.Create("z", 20UL * 64 * Kib, thin: false);
        Assert.That(f.AllocatedBlocks, Is.EqualTo(20));
        Assert.That(v.FreeFileBlocks, Is.EqualTo(1002u));
        Assert.That(ReadBytes(dev, 2UL * 64 * Kib, 4 * 64 * Kib), Is.All.Zero);
        for (long i = 0; i < 20; i++)
        {
            Assert.That(f.TryMap((ulong)i * 64 * Kib, 512, out ulong lba, out _), Is.True);
            Assert.That(lba, Is.EqualTo((ulong)(2 + i) * 128));
        }
        Assert.Throws<VmfsException>(() => v.Create("huge", 2000UL * 64 * Kib, thin: false));
    }

    [Test]
    public void Thin_OnAFullVolume_TryMapForWriteReturnsFalse()
    {
        var v = Vmfs.Format(SmallDevice(), Small);
        var f = v.Create("over", 1100UL * 64 * Kib, thin: true); // more than the volume holds
        long i = 0;
        while (f.TryMapForWrite((ulong)i * 64 * Kib, 512, out _, out _)) i++;
        Assert.That(i, Is.EqualTo(1022));
        Assert.That(v.FreeFileBlocks, Is.Zero);
    }

    [Test]
    public void Locks_TwoHostsCannotOpenTheSameFile()
    {
        var dev = SmallDevice();
        var host1 = Vmfs.Format(dev, Small);
        var f1 = host1.Create("vm.vmdk", 1UL * Kib * Kib, thin: true);
        Assert.That(f1.LockOwner, Is.EqualTo(1UL));
        var host2 = Vmfs.Mount(dev, hostId: 2);
        var ex = Assert.Throws<VmfsException>(() => host2.Open("vm.vmdk", 2));
        Assert.That(ex!.Message, Does.Contain("locked by host 1"));
        Assert.That(host2.LockGeneration("vm.vmdk"), Is.EqualTo(1UL));
        Assert.Throws<VmfsException>(() => host2.Delete("vm.vmdk"));
        f1.Close();
        Assert.That(host2.LockGeneration("vm.vmdk"), Is.EqualTo(2UL), "release bumps the generation");
        var f2 = host2.Open("vm.vmdk", 2);
        Assert.That(host2.LockGeneration("vm.vmdk"), Is.EqualTo(3UL));
        Assert.That(f2.LockOwner, Is.EqualTo(2UL));
        // Now host 1 is refused, seeing host 2's lock on the device.
        Assert.That(Assert.Throws<VmfsException>(() => host1.Open("vm.vmdk", 1))!.Message, Does.Contain("locked by host 2"));
        // The same host opening again gets its handle back.
        Assert.That(host2.Open("vm.vmdk", 2), Is.SameAs(f2));
    }

    [Test]
    public void CreateOpenDelete_Errors_AreClear()
    {
        var v = Vmfs.Format(SmallDevice(), Small);
        var f = v.Create("a", 1UL * Kib * Kib, thin: false);
        Assert.That(Assert.Throws<VmfsException>(() => v.Create("a", 4096, true))!.Message, Does.Contain("already exists"));
        Assert.That(Assert.Throws<VmfsException>(() => v.Open("nope", 1))!.Message, Does.Contain("does not exist"));
        Assert.Throws<ArgumentException>(() => v.Create("", 4096, true));
        Assert.Throws<ArgumentException>(() => v.Create(new string('x', 64), 4096, true));
        Assert.Throws<ArgumentOutOfRangeException>(() => v.Create("odd", 1000, true));
        Assert.That(Assert.Throws<VmfsException>(() => v.Delete("a"))!.Message, Does.Contain("close it"));
        f.Close();
        v.Delete("a");
        Assert.That(v.Files, Is.Empty);
        Assert.That(v.FreeFileBlocks, Is.EqualTo(1022u));
        for (int i = 0; i < 16; i++) v.Create($"f{i}", 4096, true);
        Assert.That(Assert.Throws<VmfsException>(() => v.Create("f16", 4096, true))!.Message, Does.Contain("descriptor table is full"));
        // Freed space and descriptors survive a remount.
        var m = Vmfs.Mount(v.Device);
        Assert.That(m.Files, Has.Count.EqualTo(16));
        Assert.That(m.FreeFileBlocks, Is.EqualTo(1022u));
    }

    [Test]
    public void Delete_FreesPointerBlocks()
    {
        var v = Vmfs.Format(new MemoryBlockDevice(512, 256UL * Kib * Kib / 512), Small);
        uint pbs = v.FreePointerBlocks;
        var f = v.Create("d", 1100UL * 64 * Kib, thin: true);
        f.TryMapForWrite(20UL * 64 * Kib, 512, out _, out _);
        f.TryMapForWrite(1050UL * 64 * Kib, 512, out _, out _);
        Assert.That(v.FreePointerBlocks, Is.EqualTo(pbs - 2));
        f.Close();
        v.Delete("d");
        Assert.That(v.FreePointerBlocks, Is.EqualTo(pbs));
        Assert.That(Vmfs.Mount(v.Device).FreePointerBlocks, Is.EqualTo(pbs));
    }

    static IEnumerable<TestCaseData> Corruptions()
    {
        yield return new TestCaseData((Action<ISyncBlockIo>)(d => WriteBytes(d, 0, new byte[512])), "no VMFS superblock").SetName("ZeroedSuperblock");
        yield return new TestCaseData((Action<ISyncBlockIo>)(d =>
        {
            var b = ReadBytes(d, 0, 512);
            b[110] ^= 0x01; // a label byte
            WriteBytes(d, 0, b);
        }), "superblock checksum mismatch").SetName("FlippedSuperblockByte");
        yield return new TestCaseData((Action<ISyncBlockIo>)(d => EditSealed(d, 0, 4096, b => BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(8), 7))),
            "version 7").SetName("UnknownVersion");
        yield return new TestCaseData((Action<ISyncBlockIo>)(d => EditSealed(d, 0, 4096, b => BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(72), 4))),
            "descriptor table start is 4").SetName("MovedDescriptorTable");
        yield return new TestCaseData((Action<ISyncBlockIo>)(d => EditSealed(d, 0, 4096, b => BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan(40), 1UL << 40))),
            "device has only").SetName("VolumeLargerThanDevice");
        yield return new TestCaseData((Action<ISyncBlockIo>)(d => EditSealed(d, 0, 4096, b => BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(36), 3000))),
            "file block size 3000").SetName("BadFileBlockSize");
        yield return new TestCaseData((Action<ISyncBlockIo>)(d =>
        {
            var b = ReadBytes(d, 3 * 4096, 512);
            b[8] ^= 0x80; // size
            WriteBytes(d, 3 * 4096, b);
        }), "descriptor 0: checksum mismatch").SetName("FlippedDescriptorByte");
        yield return new TestCaseData((Action<ISyncBlockIo>)(d => EditSealed(d, 3 * 4096, 512, b => BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(104), 5000))),
            "outside the data area").SetName("PointerOutOfRange");
        yield return new TestCaseData((Action<ISyncBlockIo>)(d => EditSealed(d, 3 * 4096, 512, b => BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(104 + 4), 2))),
            "cross-linked").SetName("CrossLinkedBlocks");
        yield return new TestCaseData((Action<ISyncBlockIo>)(d => EditSealed(d, 3 * 4096, 512, b => BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(168), 99))),
            "pointer block 99 is outside").SetName("PointerBlockOutOfRange");
        yield return new TestCaseData((Action<ISyncBlockIo>)(d => EditSealed(d, 3 * 4096, 512, b => BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan(8), 1UL << 62))),
            "size").SetName("HugeSize");
        yield return new TestCaseData((Action<ISyncBlockIo>)(d => EditSealed(d, 3 * 4096, 512, b => b[40] = 0xFF)),
            "not valid UTF-8").SetName("BadName");
        yield return new TestCaseData((Action<ISyncBlockIo>)(d => WriteBytes(d, 4096, new byte[512])),
            "metadata file block 0 is marked free").SetName("BitmapLostMetadata");
        yield return new TestCaseData((Action<ISyncBlockIo>)(d =>
        {
            var b = ReadBytes(d, 4096, 512);
            b[0] = 0b11; // block 2 (the file's) marked free
            WriteBytes(d, 4096, b);
        }), "which the bitmap marks free").SetName("BitmapLostFileBlock");
    }

    [TestCaseSource(nameof(Corruptions))]
    public void Mount_RejectsCorruption_WithAClearMessage(Action<ISyncBlockIo> corrupt, string expected)
    {
        var dev = SmallDevice();
        var v = Vmfs.Format(dev, Small);
        var f = v.Create("disk.vmdk", 2UL * Kib * Kib, thin: true); // 32 file blocks: pointer-block slot 0 is in range
        f.TryMapForWrite(0, 512, out _, out _); // block 2
        corrupt(dev);
        var ex = Assert.Throws<VmfsException>(() => Vmfs.Mount(dev));
        Assert.That(ex!.Message, Does.Contain(expected));
    }

    [Test]
    public void Mount_OfRandomlyDamagedMetadata_EitherSucceedsOrThrowsVmfsException()
    {
        var rng = new Random(1234);
        int rejected = 0;
        for (int round = 0; round < 150; round++)
        {
            var dev = SmallDevice();
            var v = Vmfs.Format(dev, Small);
            var f = v.Create("a", 1300UL * 64 * Kib / 2, thin: true);
            f.TryMapForWrite(0, 512, out _, out _);
            f.TryMapForWrite(20UL * 64 * Kib, 512, out _, out _);
            // Scribble over 1..8 random bytes of the first 22 metadata blocks (superblock to pointer blocks).
            var meta = ReadBytes(dev, 0, 22 * 4096);
            int hits = rng.Next(1, 9);
            for (int i = 0; i < hits; i++) meta[rng.Next(meta.Length)] = (byte)rng.Next(256);
            WriteBytes(dev, 0, meta);
            try
            {
                Vmfs.Mount(dev);
            }
            catch (VmfsException)
            {
                rejected++;
            }
        }
        Assert.That(rejected, Is.GreaterThan(0));
    }

    [Test]
    public void Mount_OfAForeignDevice_SaysSo()
    {
        var dev = SmallDevice();
        Assert.That(Assert.Throws<VmfsException>(() => Vmfs.Mount(dev))!.Message, Does.StartWith("no VMFS superblock"));
    }
}
