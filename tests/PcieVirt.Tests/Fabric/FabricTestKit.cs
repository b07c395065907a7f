using Microsoft.Extensions.Logging;
using PcieVirt.Fabric;
using PcieVirt.Pci;
using PcieVirt.Pci.Capabilities;
using PcieVirt.Pci.Config;
using PcieVirt.Pci.Functions;

namespace PcieVirt.Tests.Fabric;

/// <summary>Builders for fabric tests: functions, hand-built capabilities, a log capture.</summary>
internal static class FabricTestKit
{
    public const ulong EcamBase = 0xE000_0000;

    public static RootComplexOptions Options(ushort segment = 0) => new()
    {
        Name = "rc-test",
        Segment = segment,
        EcamBase = EcamBase,
        Mmio32 = new AddressRange(0xC000_0000, 0x1000_0000),
        Mmio64 = new AddressRange(0x40_0000_0000, 0x40_0000_0000),
        Io = new AddressRange(0x1000, 0xF000),
        RamSize = 0x1000_0000,
    };

    public static RootComplex NewRootComplex(ILoggerFactory? logging = null) => new(Options(), logging);

    public static EndpointFunction Endpoint(string name, ushort deviceId = 0x0001, params BarDefinition[] bars) =>
        Endpoint(name, deviceId, [], bars);

    public static EndpointFunction Endpoint(string name, ushort deviceId, PciCapability[] caps, params BarDefinition[] bars)
    {
        var f = new EndpointFunction(name, new FunctionIdentity
        {
            VendorId = 0x1B36, DeviceId = deviceId, ClassCode = 0x010400, InterruptPin = 1,
        });
        foreach (var b in bars) f.DefineBar(b);
        foreach (var c in caps) f.AddCapability(c);
        f.Seal();
        return f;
    }

    /// <summary>A port with a (minimal, test-only) PCI Express capability.</summary>
    public static BridgeFunction Port(string name, BridgePortKind kind, bool ariForwardingSupported = false)
    {
        int type = kind switch
        {
            BridgePortKind.RootPort => 0x4,
            BridgePortKind.SwitchUpstreamPort => 0x5,
            BridgePortKind.SwitchDownstreamPort => 0x6,
            _ => 0x8,
        };
        var b = new BridgeFunction(name, new FunctionIdentity { VendorId = 0x8086, DeviceId = 0x7000, ClassCode = 0x060400 }, kind);
        b.AddCapability(new TestPcieCapability(type, ariForwardingSupported));
        b.Seal();
        return b;
    }

    /// <summary>A port without any capability (routing must then assume no ARI).</summary>
    public static BridgeFunction PlainPort(string name, BridgePortKind kind)
    {
        var b = new BridgeFunction(name, new FunctionIdentity { VendorId = 0x8086, DeviceId = 0x7001, ClassCode = 0x060400 }, kind);
        b.Seal();
        return b;
    }

    public static PciAddress At(int bus, int dev, int fn) => new(0, new Bdf(bus, dev, fn));

    public static void Cfg(RootComplex rc, Bdf bdf, int offset, int width, uint value) =>
        Assert.That(rc.Write(new PciAddress(rc.Segment, bdf), offset, width, value), Is.EqualTo(CompletionStatus.SuccessfulCompletion),
            $"config write to {bdf} offset 0x{offset:x}");

    public static uint CfgRead(RootComplex rc, Bdf bdf, int offset, int width)
    {
        rc.Read(new PciAddress(rc.Segment, bdf), offset, width, out uint v);
        return v;
    }

    /// <summary>Programs a bridge's bus numbers through config writes, as firmware would.</summary>
    public static void Buses(RootComplex rc, PciFunction bridge, int primary, int secondary, int subordinate) =>
        Cfg(rc, bridge.Bdf, PciRegs.PrimaryBus, 4, (uint)(subordinate << 16 | secondary << 8 | primary));

    public static void Command(RootComplex rc, PciFunction f, PciCommand bits) =>
        Cfg(rc, f.Bdf, PciRegs.Command, 2, (uint)bits);
}

/// <summary>
/// Just enough of the PCI Express capability (§7.5.3) for routing and enumeration tests: the
/// Device/Port Type, Device Status (UR Detected, RW1C), Device Capabilities 2 / Control 2 (ARI Forwarding).
/// </summary>
internal sealed class TestPcieCapability(int portType, bool ariForwardingSupported) : PciStandardCapability
{
    public override ushort Id => 0x10;
    public override int Length => 0x3C;
    public override string Name => "PCI Express (test)";

    protected override void Layout(ConfigSpace config, int offset)
    {
        Def(0x02, 2, (uint)(portType << 4 | 0x2));
        Def(0x04, 4, 0);
        Def(0x08, 2, 0, rw: 0x00FF);
        Def(0x0A, 2, 0, w1c: 0x000F);
        Def(0x24, 4, ariForwardingSupported ? 1u << 5 : 0);
        Def(0x28, 2, 0, rw: ariForwardingSupported ? 1u << 5 : 0);
    }
}

/// <summary>The ARI capability (§7.8.7): only the Next Function Number matters here.</summary>
internal sealed class TestAriCapability(int nextFunction) : PciExtendedCapability
{
    public override ushort Id => 0x000E;
    public override int Length => 8;
    public override string Name => "ARI (test)";

    protected override void Layout(ConfigSpace config, int offset) => Def(0x04, 2, (uint)(nextFunction << 8));
}

/// <summary>
/// A hand-built SR-IOV capability (SR-IOV §9.3.3) with real masks: NumVFs and System Page Size RW,
/// First VF Offset / VF Stride computed when NumVFs or ARI Capable Hierarchy change, VF BARs sized
/// by their writable masks. Records the NumVFs values written so tests can check the probing.
/// </summary>
internal sealed class TestSriovCapability(ushort totalVfs, ushort firstVfOffset, ushort vfStride, params BarDefinition[] vfBars)
    : PciExtendedCapability
{
    public override ushort Id => 0x0010;
    public override int Length => 0x40;
    public override string Name => "SR-IOV (test)";

    /// <summary>Added to First VF Offset while ARI Capable Hierarchy is set (to observe that firmware set it first).</summary>
    public ushort AriOffsetDelta { get; init; }
    public List<int> NumVfsWrites { get; } = [];

    public ushort NumVfs => (ushort)Reg(0x10, 2);
    public ushort FirstVfOffset => (ushort)Reg(0x14, 2);

    protected override void Layout(ConfigSpace config, int offset)
    {
        Def(0x04, 4, 0);
        Def(0x08, 2, 0, rw: 0x1F);
        Def(0x0A, 2, 0);
        Def(0x0C, 2, totalVfs);
        Def(0x0E, 2, totalVfs);
        Def(0x10, 2, 0, rw: 0xFFFF);
        Def(0x12, 1, 0);
        Def(0x14, 2, 0);
        Def(0x16, 2, 0);
        Def(0x1A, 2, 0x0002);
        Def(0x1C, 4, 0x553);
        Def(0x20, 4, 1, rw: 0xFFFF_FFFF);
        for (int i = 0; i < 6; i++) Def(0x24 + 4 * i, 4, 0);
        foreach (var b in vfBars)
        {
            int at = 0x24 + 4 * b.Index;
            uint typeMask = b.Kind == BarKind.Io ? 0x3u : 0xFu;
            Def(at, 4, b.TypeBits, (uint)~(b.Size - 1) & ~typeMask);
            if (b.Is64Bit) Def(at + 4, 4, 0, (uint)(~(b.Size - 1) >> 32));
        }
        Recompute();
    }

    protected override void OnWrite(int relativeOffset, int width, uint oldValue, uint written)
    {
        if (relativeOffset == 0x10) NumVfsWrites.Add((int)Reg(0x10, 2));
        Recompute();
    }

    void Recompute()
    {
        bool ari = (Reg(0x08, 2) & 0x10) != 0;
        bool any = Reg(0x10, 2) != 0;
        SetReg(0x14, 2, any ? (uint)(firstVfOffset + (ari ? AriOffsetDelta : 0)) : 0);
        SetReg(0x16, 2, any ? vfStride : 0u);
    }
}

/// <summary>A BAR region backed by bytes, counting accesses.</summary>
internal sealed class RamRegion(int size) : IBarRegion
{
    public byte[] Bytes { get; } = new byte[size];
    public int Reads { get; private set; }
    public int Writes { get; private set; }

    public void Read(ulong offset, Span<byte> data)
    {
        Reads++;
        Bytes.AsSpan((int)offset, data.Length).CopyTo(data);
    }

    public void Write(ulong offset, ReadOnlySpan<byte> data)
    {
        Writes++;
        data.CopyTo(Bytes.AsSpan((int)offset));
    }
}
