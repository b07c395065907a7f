using System.Buffers.Binary;
using PcieVirt.Devices.Driver;
using PcieVirt.Fabric;
using PcieVirt.Hypervisor.Virtio;

namespace PcieVirt.Tests.Hypervisor.Virtio;

/// <summary>Guest memory, allocators and raw ring writers for the virtio tests.</summary>
internal static class VirtioTestKit
{
    public const ulong MemorySize = 0x100000; // 1 MiB of guest RAM
    public const ulong AllocatorBase = 0x10000;
    public const ulong AllocatorSize = 0x40000;

    public static (HostMemory Memory, HostMemoryAllocator Allocator) Guest()
    {
        var memory = new HostMemory(MemorySize);
        return (memory, new HostMemoryAllocator(memory, AllocatorBase, AllocatorSize));
    }

    public static ushort ReadU16(IPhysicalMemory m, ulong gpa)
    {
        Span<byte> b = stackalloc byte[2];
        Assert.That(m.Read(gpa, b), Is.True);
        return BinaryPrimitives.ReadUInt16LittleEndian(b);
    }

    public static uint ReadU32(IPhysicalMemory m, ulong gpa)
    {
        Span<byte> b = stackalloc byte[4];
        Assert.That(m.Read(gpa, b), Is.True);
        return BinaryPrimitives.ReadUInt32LittleEndian(b);
    }

    public static ulong ReadU64(IPhysicalMemory m, ulong gpa)
    {
        Span<byte> b = stackalloc byte[8];
        Assert.That(m.Read(gpa, b), Is.True);
        return BinaryPrimitives.ReadUInt64LittleEndian(b);
    }

    public static void WriteU16(IPhysicalMemory m, ulong gpa, ushort v)
    {
        Span<byte> b = stackalloc byte[2];
        BinaryPrimitives.WriteUInt16LittleEndian(b, v);
        Assert.That(m.Write(gpa, b), Is.True);
    }

    public static byte[] Snapshot(HostMemory m)
    {
        var all = new byte[m.Size];
        Assert.That(m.Read(0, all), Is.True);
        return all;
    }
}

/// <summary>
/// Writes a split virtqueue by hand, byte by byte at the offsets §2.7 gives, so malformed structures can be built
/// (the real driver never makes them).
/// </summary>
internal sealed class RawRing(HostMemory memory, VirtqueueAddresses a)
{
    ushort _availIdx;

    public VirtqueueAddresses Addresses => a;

    public void Descriptor(int index, ulong addr, uint len, VirtqDescriptorFlags flags, ushort next, ulong table = ulong.MaxValue)
    {
        ulong at = (table == ulong.MaxValue ? a.DescriptorTable : table) + (ulong)(16 * index);
        Span<byte> d = stackalloc byte[16];
        BinaryPrimitives.WriteUInt64LittleEndian(d, addr);
        BinaryPrimitives.WriteUInt32LittleEndian(d[8..], len);
        BinaryPrimitives.WriteUInt16LittleEndian(d[12..], (ushort)flags);
        BinaryPrimitives.WriteUInt16LittleEndian(d[14..], next);
        Assert.That(memory.Write(at, d), Is.True);
    }

    /// <summary>Puts <paramref name="head"/> in the next available slot and publishes it.</summary>
    public void MakeAvailable(ushort head)
    {
        VirtioTestKit.WriteU16(memory, a.AvailableRing + 4 + (ulong)(2 * (_availIdx % a.QueueSize)), head);
        _availIdx++;
        VirtioTestKit.WriteU16(memory, a.AvailableRing + 2, _availIdx);
    }

    public void SetAvailIdx(ushort idx)
    {
        _availIdx = idx;
        VirtioTestKit.WriteU16(memory, a.AvailableRing + 2, idx);
    }
}
