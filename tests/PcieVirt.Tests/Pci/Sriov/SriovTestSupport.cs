using PcieVirt.Pci;
using PcieVirt.Pci.Capabilities;
using PcieVirt.Pci.Config;
using PcieVirt.Pci.Functions;
using PcieVirt.Tests.Pci.Capabilities;
using PcieVirt.Tests.Support;

namespace PcieVirt.Tests.Pci.Sriov;

/// <summary>A PF with an SR-IOV capability, built the way a device model would build one.</summary>
sealed class PfFixture
{
    public static readonly FunctionIdentity PfIdentity = new()
    {
        VendorId = 0x1af4, DeviceId = 0x1100, ClassCode = 0x010802, RevisionId = 0x03,
        SubsystemVendorId = 0x1af4, SubsystemId = 0x0042, InterruptPin = 1,
    };

    /// <summary>VF BAR0: 64-bit prefetchable 16 KiB (MSI-X table at 0x2000, PBA at 0x3000); VF BAR2: 32-bit 4 KiB.</summary>
    public static SriovOptions DefaultOptions(ushort totalVfs = 8) => new()
    {
        TotalVfs = totalVfs,
        VfDeviceId = 0x1101,
        VfBars =
        [
            new BarDefinition(0, BarKind.Memory64, 0x4000, Prefetchable: true),
            new BarDefinition(2, BarKind.Memory32, 0x1000),
        ],
        VfMsix = new MsixOptions(TableSize: 4, TableBar: 0, TableOffset: 0x2000, PbaBar: 0, PbaOffset: 0x3000),
    };

    public PfFixture(SriovOptions? options = null, bool ari = false, Bdf? bdf = null,
        Func<SriovCapability, int, VirtualFunction>? factory = null, string name = "pf")
    {
        Logger = new RecordingLogger();
        Pf = new EndpointFunction(name, PfIdentity, Logger);
        Pf.DefineBar(new BarDefinition(0, BarKind.Memory64, 0x4000));
        Pf.AddCapability(new PciExpressCapability(new PciExpressOptions { FlrCapable = true, MaxLinkWidth = 8 }));
        if (ari) Pf.AddCapability(new AriCapability());
        Sriov = new SriovCapability(options ?? DefaultOptions()) { VirtualFunctionFactory = factory, Clock = () => Now };
        Pf.AddCapability(Sriov);
        Pf.Seal();
        Pf.Bdf = bdf ?? new Bdf(1, 0, 0);
        Pf.Upstream = Upstream;
        Sriov.VfsEnabled += (_, vfs) => Enabled.Add(vfs.ToArray());
        Sriov.VfsDisabled += (_, vfs) => Disabled.Add(vfs.ToArray());
    }

    public RecordingLogger Logger { get; }
    public EndpointFunction Pf { get; }
    public SriovCapability Sriov { get; }
    public RecordingUpstream Upstream { get; } = new();
    public ulong Now { get; set; }
    public List<VirtualFunction[]> Enabled { get; } = [];
    public List<VirtualFunction[]> Disabled { get; } = [];

    public int At(int rel) => Sriov.Offset + rel;
    public uint R(int rel, int width) => Pf.R(At(rel), width);
    public void W(int rel, int width, uint value) => Pf.W(At(rel), width, value);

    public void SetNumVfs(int n) => W(Reg.NumVfs, 2, (uint)n);
    public void Control(uint bits) => W(Reg.Control, 2, bits);

    /// <summary>Programs VF BAR0 (64-bit) with <paramref name="address"/>.</summary>
    public void SetVfBar0(ulong address)
    {
        W(Reg.VfBar0, 4, (uint)address);
        W(Reg.VfBar0 + 4, 4, (uint)(address >> 32));
    }

    /// <summary>Writes NumVFs, then VF Enable | VF MSE (and ARI Capable Hierarchy when asked).</summary>
    public IReadOnlyList<VirtualFunction> Enable(int n, bool mse = true, bool ariHierarchy = false)
    {
        SetNumVfs(n);
        Control(Reg.VfEnable | (mse ? Reg.VfMse : 0) | (ariHierarchy ? Reg.AriCapableHierarchy : 0));
        return Sriov.VirtualFunctions;
    }
}

/// <summary>SR-IOV register offsets and bits from the capability header, taken from §9.3.3 (independently of the model's constants).</summary>
static class Reg
{
    public const int Caps = 0x04, Control = 0x08, Status = 0x0A, InitialVfs = 0x0C, TotalVfs = 0x0E, NumVfs = 0x10,
        DependencyLink = 0x12, FirstVfOffset = 0x14, VfStride = 0x16, VfDeviceId = 0x1A, SupportedPageSizes = 0x1C,
        SystemPageSize = 0x20, VfBar0 = 0x24, MigrationStateArray = 0x3C;
    public const uint VfEnable = 1, VfMigrationEnable = 2, VfMigrationInterruptEnable = 4, VfMse = 8,
        AriCapableHierarchy = 0x10, Vf10BitTagEnable = 0x20;

    // Event IDs of the SR-IOV log messages.
    public const int LogNumVfsExceedsTotal = 2150, LogNumVfsWhileEnabled = 2151, LogPageSizeRejected = 2152,
        LogPageSizeWhileEnabled = 2153, LogEnableWithoutVfs = 2154, LogVfsEnabled = 2155, LogVfsRemoved = 2156,
        LogAriWhileEnabled = 2157, LogRuleInvalid = 2158, LogRoutingIdWraps = 2159;

    // PCI Express capability offsets (§7.5.3).
    public const int PcieDevCap = 0x04, PcieDevCtl = 0x08, PcieDevSta = 0x0A, PcieLinkCap = 0x0C, PcieLinkSta = 0x12;
}
