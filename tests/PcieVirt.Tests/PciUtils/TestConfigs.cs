using System.Buffers.Binary;
using PcieVirt.Fabric;
using PcieVirt.Pci;

namespace PcieVirt.Tests.PciUtils;

/// <summary>An <see cref="IConfigAccessor"/> over raw 4096-byte arrays, optionally with sysfs-like info.</summary>
internal sealed class RawConfigAccessor(string name = "test") : IConfigAccessor
{
    readonly SortedDictionary<PciAddress, (byte[] Bytes, FunctionInfo? Info)> _f = [];
    public string Name { get; } = name;

    public RawConfigAccessor Add(PciAddress a, byte[] config, FunctionInfo? info = null)
    {
        _f[a] = (config, info);
        return this;
    }

    public byte[] Bytes(PciAddress a) => _f[a].Bytes;
    public IReadOnlyList<PciAddress> Functions() => [.. _f.Keys];
    public FunctionInfo? Describe(PciAddress address) => _f.TryGetValue(address, out var f) ? f.Info : null;

    public CompletionStatus Read(PciAddress address, int offset, int width, out uint value)
    {
        value = uint.MaxValue >> (32 - 8 * width);
        if (!_f.TryGetValue(address, out var f) || offset + width > f.Bytes.Length) return CompletionStatus.UnsupportedRequest;
        value = 0;
        for (int i = 0; i < width; i++) value |= (uint)f.Bytes[offset + i] << (8 * i);
        return CompletionStatus.SuccessfulCompletion;
    }

    public CompletionStatus Write(PciAddress address, int offset, int width, uint value)
    {
        if (!_f.TryGetValue(address, out var f) || offset + width > f.Bytes.Length) return CompletionStatus.UnsupportedRequest;
        for (int i = 0; i < width; i++) f.Bytes[offset + i] = (byte)(value >> (8 * i));
        return CompletionStatus.SuccessfulCompletion;
    }
}

/// <summary>Hand-built config spaces with known field values (offsets per the PCIe Base Spec, chapter 7).</summary>
internal static class TestConfigs
{
    public static PciAddress At(int bus, int dev, int fn, ushort segment = 0) => new(segment, new Bdf(bus, dev, fn));

    public static void W(byte[] b, int off, int width, uint v)
    {
        for (int i = 0; i < width; i++) b[off + i] = (byte)(v >> (8 * i));
    }

    /// <summary>
    /// An SR-IOV capable Ethernet PF (Intel 82599 IDs): 64-bit prefetchable BAR0, 32-bit BAR2, I/O BAR3,
    /// enabled ROM, PM, MSI (64-bit, maskable), PCIe v2 endpoint with FLR, MSI-X, AER, DSN, ARI,
    /// SR-IOV (8 of 64 VFs enabled, offset 128, stride 2), ACS, an unknown extended capability and ATS.
    /// </summary>
    public static byte[] Endpoint()
    {
        var b = new byte[4096];
        (int off, int w, uint v)[] regs =
        [
            (0, 2, 0x8086), (2, 2, 0x10fb), (4, 2, 0x0146), (6, 2, 0x0010), (8, 1, 1), (9, 3, 0x020000), (0xc, 1, 0x10), (0xe, 1, 0x80),
            (0x10, 4, 0xf000000c), (0x14, 4, 0x00000020), (0x18, 4, 0xe0000000), (0x1c, 4, 0x0000e001),
            (0x2c, 2, 0x8086), (0x2e, 2, 0x0003), (0x30, 4, 0xfe000001), (0x34, 1, 0x40), (0x3c, 1, 11), (0x3d, 1, 1),
            (0x40, 1, 1), (0x41, 1, 0x50), (0x42, 2, 0xc9c3), (0x44, 2, 0x0108),
            (0x50, 1, 5), (0x51, 1, 0x70), (0x52, 2, 0x01a5), (0x54, 4, 0xfee00000), (0x58, 4, 0x1), (0x5c, 2, 0x4021), (0x60, 4, 0xfe), (0x64, 4, 1),
            (0x70, 1, 0x10), (0x71, 1, 0xb0), (0x72, 2, 0x0002), (0x74, 4, 0x10008fc2), (0x78, 2, 0x593f), (0x7a, 2, 0x0009),
            (0x7c, 4, 0x0043fc83), (0x80, 2, 0x0042), (0x82, 2, 0x1083),
            (0x94, 4, 0x00073c1f), (0x98, 2, 0x0065), (0x9c, 4, 0x0000000e), (0xa0, 2, 0x0003), (0xa2, 2, 0x001e),
            (0xb0, 1, 0x11), (0xb2, 2, 0x803f), (0xb4, 4, 0x00002002), (0xb8, 4, 0x00003002),
            (0x100, 4, 0x14820001), (0x104, 4, 0x00100011), (0x10c, 4, 0x00462030), (0x110, 4, 0x000000c1), (0x114, 4, 0x00002000),
            (0x118, 4, 0x000001ff), (0x11c, 4, 0x04000001), (0x120, 4, 0x0000000f), (0x124, 4, 0x01000000), (0x128, 4, 0x12345678),
            (0x148, 4, 0x15810003), (0x14c, 4, 0x12345678), (0x150, 4, 0x9abcdef0),
            (0x158, 4, 0x1681000e), (0x15c, 2, 0x0203), (0x15e, 2, 0x0013),
            (0x168, 4, 0x1a810010), (0x16c, 4, 0x00200005), (0x170, 2, 0x0019), (0x172, 2, 1), (0x174, 2, 64), (0x176, 2, 64),
            (0x178, 2, 8), (0x17c, 2, 0x80), (0x17e, 2, 2), (0x182, 2, 0x10ed), (0x184, 4, 0x553), (0x188, 4, 1),
            (0x18c, 4, 0x0000000c), (0x190, 4, 0x80), (0x198, 4, 0xd0000000), (0x1a4, 4, 0x00001233),
            (0x1a8, 4, 0x1b81000d), (0x1ac, 2, 0x007f), (0x1ae, 2, 0x0015),
            (0x1b8, 4, 0x1c010099), (0x1c0, 4, 0x0001000f), (0x1c4, 2, 0x0020), (0x1c6, 2, 0x8004),
        ];
        foreach (var (off, w, v) in regs) W(b, off, w, v);
        return b;
    }

    /// <summary>A PCIe v2 root port (Intel Xeon E5 IDs) with a hot-plug slot, root registers, MSI, SSVID, PM, AER with root registers and ACS.</summary>
    public static byte[] RootPort(int secondary = 1, int subordinate = 3)
    {
        var b = new byte[4096];
        (int off, int w, uint v)[] regs =
        [
            (0, 2, 0x8086), (2, 2, 0x3c02), (4, 2, 0x0407), (6, 2, 0x4010), (8, 1, 7), (9, 3, 0x060400), (0xc, 1, 0x10), (0xe, 1, 0x81),
            (0x19, 1, (uint)secondary), (0x1a, 1, (uint)subordinate), (0x1c, 1, 0xe0), (0x1d, 1, 0xe0), (0x1e, 2, 0x2000),
            (0x20, 2, 0xe000), (0x22, 2, 0xe0f0), (0x24, 2, 0xf001), (0x26, 2, 0xf1f1), (0x34, 1, 0x40), (0x3c, 1, 0xff), (0x3d, 1, 1), (0x3e, 2, 0x0013),
            (0x40, 1, 0x10), (0x41, 1, 0x80), (0x42, 2, 0x0142), (0x44, 4, 0x00008001), (0x48, 2, 0x0027), (0x4a, 2, 0x0010),
            (0x4c, 4, 0x01337c43), (0x50, 2, 0x0040), (0x52, 2, 0x7043), (0x54, 4, 0x0004807f | (5u << 19)), (0x58, 2, 0x17f1),
            (0x5a, 2, 0x0048), (0x5c, 2, 0x000f), (0x5e, 2, 1), (0x60, 4, 0x00030100),
            (0x64, 4, 0x000f0b9f), (0x68, 2, 0x0426), (0x6c, 4, 0x8000001e), (0x70, 2, 0x0003), (0x72, 2, 0x0001),
            (0x80, 1, 0x05), (0x81, 1, 0x90), (0x82, 2, 0x0081), (0x84, 4, 0xfee00000), (0x88, 2, 0x41b1),
            (0x90, 1, 0x0d), (0x91, 1, 0xa0), (0x94, 2, 0x1234), (0x96, 2, 0x5678),
            (0xa0, 1, 0x01), (0xa2, 2, 0xc803),
            (0x100, 4, 0x14810001), (0x118, 4, 0x000000a0), (0x12c, 4, 7), (0x130, 4, 0x7f), (0x134, 4, 0x01000100),
            (0x148, 4, 0x0001000d), (0x14c, 2, 0x001f), (0x14e, 2, 0x0001),
        ];
        foreach (var (off, w, v) in regs) W(b, off, w, v);
        return b;
    }

    /// <summary>A switch port (PCIe type 5 upstream or 6 downstream) with PM, PCIe v2 and AER.</summary>
    public static byte[] SwitchPort(bool upstream, int primary, int secondary, int subordinate)
    {
        var b = new byte[4096];
        uint type = upstream ? 5u : 6u;
        (int off, int w, uint v)[] regs =
        [
            (0, 2, 0x10b5), (2, 2, 0x8747), (4, 2, 0x0007), (6, 2, 0x0010), (8, 1, 0xca), (9, 3, 0x060400), (0xe, 1, 1),
            (0x18, 1, (uint)primary), (0x19, 1, (uint)secondary), (0x1a, 1, (uint)subordinate),
            (0x1c, 1, 0xf1), (0x1d, 1, 0x01), (0x20, 2, 0xfff0), (0x22, 2, 0x0000), (0x24, 2, 0xfff1), (0x26, 2, 0x0001), (0x28, 4, 0xffffffff),
            (0x34, 1, 0x40), (0x3e, 2, 0x0003),
            (0x40, 1, 0x01), (0x41, 1, 0x50), (0x42, 2, 0x0003), (0x44, 2, 0x0008),
            (0x50, 1, 0x10), (0x51, 1, 0x00), (0x52, 2, 2 | (type << 4) | (upstream ? 0u : 0x100u)), (0x54, 4, 0x00008062),
            (0x58, 2, 0x2836), (0x5c, 4, 0x0803ac43 | (upstream ? 0u : 0x00100000u)), (0x60, 2, 0x0040), (0x62, 2, 0x3043),
            (0x64, 4, 0x00080460), (0x66 + 2, 2, 0x0040), (0x6c, 2, 0x0001),
            (0x74, 4, 0x00000070), (0x78, 2, 0x0000), (0x7c, 4, 0x0000000e), (0x80, 2, 0x0003),
            (0x100, 4, 0x00010001), (0x114, 4, 0x00002000), (0x118, 4, 0x000000a0),
        ];
        foreach (var (off, w, v) in regs) W(b, off, w, v);
        return b;
    }

    /// <summary>A 64-bit little-endian value helper for assertions.</summary>
    public static uint U32(byte[] b, int off) => BinaryPrimitives.ReadUInt32LittleEndian(b.AsSpan(off));
}
