using System.Buffers.Binary;
using PcieVirt.Fabric;

namespace PcieVirt.Hypervisor.Virtio;

/// <summary>The little-endian 16-bit ring fields (indices, flags, event indices) both sides of a virtqueue read and write.</summary>
internal static class RingMemory
{
    public static ushort ReadU16(this IPhysicalMemory memory, ulong gpa)
    {
        Span<byte> b = stackalloc byte[2];
        memory.Read(gpa, b);
        return BinaryPrimitives.ReadUInt16LittleEndian(b);
    }

    public static void WriteU16(this IPhysicalMemory memory, ulong gpa, ushort value)
    {
        Span<byte> b = stackalloc byte[2];
        BinaryPrimitives.WriteUInt16LittleEndian(b, value);
        memory.Write(gpa, b);
    }
}
