using Microsoft.Extensions.Logging;
using PcieVirt.Fabric;
using PcieVirt.Pci;
using PcieVirt.Pci.Capabilities;
using PcieVirt.Pci.Config;
using PcieVirt.Pci.Functions;
using PcieVirt.Tests.Support;

namespace PcieVirt.Tests.Fabric.Sriov;

/// <summary>
/// A root complex with one root port (real PCI Express capability: ARI Forwarding and CRS Software
/// Visibility supported) and a device of one or more SR-IOV PFs below it, enumerated by the firmware
/// model. Host-side helpers go through configuration requests only, as host software would.
/// </summary>
sealed class SriovFabric
{
    // SR-IOV register offsets (§9.3.3), independent of the model's constants.
    public const int Control = 0x08, TotalVfs = 0x0E, NumVfs = 0x10, FirstVfOffset = 0x14, VfStride = 0x16,
        VfDeviceId = 0x1A, SupportedPageSizes = 0x1C, SystemPageSize = 0x20, VfBar0 = 0x24;
    public const uint VfEnable = 1, VfMse = 8, AriCapableHierarchy = 0x10;

    public static readonly FunctionIdentity PfIdentity = new()
    {
        VendorId = 0x1af4, DeviceId = 0x1100, ClassCode = 0x010802, RevisionId = 2,
        SubsystemVendorId = 0x1af4, SubsystemId = 0x0042, InterruptPin = 1,
    };

    public static SriovOptions Options(ushort totalVfs, int pfIndex = 0, int pfCount = 1) => new()
    {
        TotalVfs = totalVfs,
        VfDeviceId = 0x1101,
        PfIndex = pfIndex,
        PfCount = pfCount,
        VfBars = [new BarDefinition(0, BarKind.Memory64, 0x4000, Prefetchable: true)],
        VfMsix = new MsixOptions(TableSize: 4, TableBar: 0, TableOffset: 0x2000, PbaBar: 0, PbaOffset: 0x3000),
    };

    public SriovFabric(ushort totalVfs = 8, bool ari = true, int pfCount = 1, int busReserve = 0, bool enumerate = true,
        Func<int, SriovOptions>? options = null, RootComplexOptions? rcOptions = null)
    {
        Logs = new RecordingLogger();
        var logging = RecordingLogger.Factory(Logs, LogLevel.Debug);
        Rc = new RootComplex(rcOptions ?? FabricTestKit.Options(), logging);
        var rp = new BridgeFunction("rp", new FunctionIdentity { VendorId = 0x8086, DeviceId = 0x7000, ClassCode = 0x060400 }, BridgePortKind.RootPort);
        rp.AddCapability(new PciExpressCapability(new PciExpressOptions
        {
            PortType = PciePortType.RootPort, AriForwardingSupported = true, CrsSoftwareVisibility = true, SlotImplemented = true,
        }));
        rp.Seal();
        RootPort = Rc.AddRootPort(1, 0, rp);
        RootPort.BusReserve = busReserve;
        Pfs = new EndpointFunction[pfCount];
        Caps = new SriovCapability[pfCount];
        for (int k = 0; k < pfCount; k++)
        {
            var pf = new EndpointFunction($"pf{k}", PfIdentity, logging.CreateLogger($"PcieVirt.Device.pf{k}"));
            pf.DefineBar(new BarDefinition(0, BarKind.Memory64, 0x4000));
            pf.AddCapability(new PciExpressCapability(new PciExpressOptions { FlrCapable = true }));
            pf.AddCapability(new MsixCapability(new MsixOptions(8, 0, 0x2000, 0, 0x3000)));
            if (ari) pf.AddCapability(new AriCapability(new AriOptions { NextFunctionNumber = (byte)(k + 1 < pfCount ? k + 1 : 0) }));
            var cap = new SriovCapability(options?.Invoke(k) ?? Options(totalVfs, k, pfCount));
            if (k > 0) cap.FollowAriCapableHierarchyOf(Caps[0]);
            pf.AddCapability(cap);
            pf.Seal();
            Pfs[k] = pf;
            Caps[k] = cap;
        }
        RootPort.ConnectDevice(Pfs);
        if (enumerate) Report = new FirmwareEnumerator(Rc).Enumerate();
    }

    public RecordingLogger Logs { get; }
    public RootComplex Rc { get; }
    public RootPort RootPort { get; }
    public EndpointFunction[] Pfs { get; }
    public SriovCapability[] Caps { get; }
    public EndpointFunction Pf => Pfs[0];
    public SriovCapability Cap => Caps[0];
    public EnumerationReport? Report { get; }

    public PciAddress A(Bdf bdf) => new(Rc.Segment, bdf);

    public CompletionStatus Read(Bdf bdf, int offset, int width, out uint value) => Rc.Read(A(bdf), offset, width, out value);
    public CompletionStatus Write(Bdf bdf, int offset, int width, uint value) => Rc.Write(A(bdf), offset, width, value);

    public uint R(Bdf bdf, int offset, int width)
    {
        Assert.That(Read(bdf, offset, width, out var v), Is.EqualTo(CompletionStatus.SuccessfulCompletion), $"read {bdf} +0x{offset:x}");
        return v;
    }

    public void W(Bdf bdf, int offset, int width, uint value) =>
        Assert.That(Write(bdf, offset, width, value), Is.EqualTo(CompletionStatus.SuccessfulCompletion), $"write {bdf} +0x{offset:x}");

    /// <summary>Offset of PF k's SR-IOV capability, found by walking its extended list through config reads.</summary>
    public int Sriov(int k = 0) => CapabilityWalker.FindExtendedCapability(Rc, A(Pfs[k].Bdf), CapabilityIds.SingleRootIov);

    /// <summary>The host's enable sequence: NumVFs, then VF Enable | VF MSE (keeping ARI Capable Hierarchy).</summary>
    public void Enable(int numVfs, int k = 0, bool mse = true)
    {
        var pf = Pfs[k].Bdf;
        int at = Sriov(k);
        W(pf, at + NumVfs, 2, (uint)numVfs);
        uint ctl = R(pf, at + Control, 2);
        W(pf, at + Control, 2, ctl | VfEnable | (mse ? VfMse : 0));
    }

    public void Disable(int k = 0)
    {
        var pf = Pfs[k].Bdf;
        int at = Sriov(k);
        W(pf, at + Control, 2, R(pf, at + Control, 2) & ~(VfEnable | VfMse));
    }

    /// <summary>Lets the VFs' settle time pass (100 ms by default).</summary>
    public void Settle() => Rc.Clock.Advance(100 * VirtualClock.Millisecond);

    public Bdf VfBdf(int n, int k = 0)
    {
        int at = Sriov(k);
        var pf = Pfs[k].Bdf;
        uint off = R(pf, at + FirstVfOffset, 2), stride = R(pf, at + VfStride, 2);
        return new Bdf((ushort)(pf.Value + off + (n - 1) * stride));
    }

    public int LogCount(string fragment) => Logs.Entries.Count(e => e.Message.Contains(fragment, StringComparison.Ordinal));
}
