using Microsoft.Extensions.Logging;
using PcieVirt.Devices.RaidController;
using PcieVirt.Pci.Capabilities;
using PcieVirt.Pci.Functions;
using PcieVirt.Platform.Model;

namespace PcieVirt.Platform.Building;

/// <summary>
/// Turns model nodes into functions with their capability lists. The order of capabilities follows
/// what real devices commonly expose (PM, MSI, PCIe, MSI-X in the legacy list; AER, ACS, ARI, DSN,
/// SR-IOV in the extended list), which is also what lspci users expect to see.
/// </summary>
internal sealed class FunctionFactory(ILoggerFactory loggerFactory, string? baseDirectory = null)
{
    readonly ILogger _log = loggerFactory.CreateLogger("PcieVirt.Platform");

    /// <summary>An endpoint function (PF) from the model. <paramref name="link"/> is the link it trains on.</summary>
    /// <param name="sharedRaid">For a PF of a multi-PF (MRA) raid-controller: the device the PFs share (settings are its own).</param>
    public EndpointFunction Endpoint(FunctionModel m, PciePortType portType, LinkModel? link, byte nextAriFunction,
        SriovDevice? sriovDevice = null, RaidControllerDevice? sharedRaid = null)
    {
        var deviceLogger = loggerFactory.CreateLogger($"PcieVirt.Device.{m.Name}");
        RaidControllerFunction? raid = m.DeviceKind != RaidControllerSettings.DeviceKind ? null
            : sharedRaid != null ? SharedRaidPf(m, sharedRaid, deviceLogger) : RaidController(m, deviceLogger);
        var f = raid ?? new EndpointFunction(m.Name, m.Identity, deviceLogger);
        foreach (var bar in m.Bars) f.DefineBar(bar);
        if (m.ExpansionRomSize != 0) f.DefineExpansionRom(m.ExpansionRomSize);
        var caps = m.Capabilities;
        if (caps.PowerManagement is { } pm)
            f.AddCapability(new PowerManagementCapability(new PowerManagementOptions
            {
                D1Support = pm.D1Support,
                D2Support = pm.D2Support,
                PmeSupport = pm.PmeSupport,
                NoSoftReset = pm.NoSoftReset,
            }));
        if (caps.Msi is { } msi)
            f.AddCapability(new MsiCapability(new MsiOptions
            {
                VectorsRequested = msi.Vectors,
                Address64 = msi.Is64Bit,
                PerVectorMasking = msi.PerVectorMask,
            }));
        f.AddCapability(new PciExpressCapability(EndpointExpressOptions(caps.Pcie, portType, link)));
        if (caps.Msix is { } msix)
            f.AddCapability(new MsixCapability(msix.TableSize, msix.TableBar, msix.TableOffset, msix.PbaBar, msix.PbaOffset));
        if (caps.Aer is { } aer)
            f.AddCapability(new AerCapability(new AerOptions
            {
                PortType = portType,
                EcrcGenerationCapable = aer.EcrcGeneration,
                EcrcCheckCapable = aer.EcrcCheck,
            }));
        if (caps.Acs is { } acs) f.AddCapability(Acs(acs));
        if (caps.Ari) f.AddCapability(new AriCapability(new AriOptions { NextFunctionNumber = nextAriFunction }));
        if (caps.DeviceSerialNumber is { } dsn) f.AddCapability(new DeviceSerialNumberCapability(dsn));
        if (caps.Sriov is { } iov)
        {
            sriovDevice ??= new SriovDevice([m]);
            var cap = new SriovCapability(SriovOptions(iov, sriovDevice.IndexOf(m), sriovDevice.Count))
            {
                VirtualFunctionFactory = raid is null ? null : raid.Device.CreateVirtualFunction,
            };
            f.AddCapability(cap);
            sriovDevice.Add(cap);
        }
        // The controller claims its register range once the model's MSI-X capability is in place.
        raid?.AttachController();
        if (m.DeviceKind != FunctionModel.GenericDeviceKind && raid is null)
            Log.DeviceKindAsGeneric(_log, m.Name, m.DeviceKind);
        f.Seal();
        return f;
    }

    /// <summary>
    /// The PF of a <c>raid-controller</c> device: drives from the settings, an NVMe primary controller on
    /// BAR0, one secondary controller per VF. Settings and shape problems are reported with their JSON path.
    /// </summary>
    RaidControllerFunction RaidController(FunctionModel m, ILogger logger)
    {
        var errors = new List<string>();
        var config = RaidControllerSettings.Parse(m.Settings, m.Path, errors, baseDirectory);
        if (m.Bar(0) is not { } bar0 || bar0.Kind is not (BarKind.Memory64 or BarKind.Memory32))
            errors.Add($"{m.Path}.bars: a raid-controller needs a memory BAR0 for its NVMe registers");
        var iov = m.Capabilities.Sriov;
        if (iov != null)
        {
            int vfBar = iov.VfMsix?.TableBar ?? 0;
            if (!iov.VfBars.Any(b => b.Index == vfBar))
                errors.Add($"{iov.Path}.vfBars: a raid-controller's VFs need VF BAR{vfBar} for their NVMe registers");
        }
        if (config?.Qos is { } qos)
        {
            int total = Math.Min(iov?.TotalVfs ?? 0, 127);
            foreach (int vf in qos.Vfs.Keys.Where(vf => vf > total).Order())
                errors.Add($"{m.Path}.settings.qos.vfs: VF {vf} does not exist (the PF has {total} VF controllers)");
        }
        if (config is null || errors.Count > 0) throw new ArgumentException(string.Join("; ", errors));
        RaidControllerDevice device;
        try { device = new RaidControllerDevice(config, loggerFactory); }
        catch (ArgumentException e) { throw new ArgumentException($"{m.Path}.settings: {e.Message}", e); }
        var msix = m.Capabilities.Msix is { } x ? new MsixOptions(x.TableSize, x.TableBar, x.TableOffset, x.PbaBar, x.PbaOffset) : null;
        var function = device.CreateFunction(m.Name, m.Identity, 0, msix, iov?.TotalVfs ?? 0, iov?.VfMsix?.TableSize ?? 2, logger);
        for (int i = 0; i < config.Volumes.Count; i++)
        {
            var (spec, attachTo) = config.Volumes[i];
            string at = $"{m.Path}.settings.volumes[{i}]";
            var created = device.CreateVolume(spec);
            if (!created.IsSuccess) throw new ArgumentException($"{at}: {created.Error}");
            foreach (int target in attachTo)
                if (device.Attach(spec.Name, target) is { IsSuccess: false } r) throw new ArgumentException($"{at}.attach: {r.Error}");
        }
        return function;
    }

    /// <summary>One more PF of a raid-controller shared by several PFs (an MRA device): its own primary controller and VFs.</summary>
    static RaidControllerFunction SharedRaidPf(FunctionModel m, RaidControllerDevice device, ILogger logger)
    {
        if (m.Bar(0) is not { } bar0 || bar0.Kind is not (BarKind.Memory64 or BarKind.Memory32))
            throw new ArgumentException($"{m.Path}.bars: a raid-controller needs a memory BAR0 for its NVMe registers");
        var iov = m.Capabilities.Sriov;
        var msix = m.Capabilities.Msix is { } x ? new MsixOptions(x.TableSize, x.TableBar, x.TableOffset, x.PbaBar, x.PbaOffset) : null;
        return device.CreateFunction(m.Name, m.Identity, 0, msix, iov?.TotalVfs ?? 0, iov?.VfMsix?.TableSize ?? 2, logger);
    }

    /// <summary>A root port or switch downstream port: a Type 1 function with the port's slot and link.</summary>
    public BridgeFunction DownstreamFacingPort(PortModel p, bool isRootPort, int portNumber)
    {
        var kind = isRootPort ? BridgePortKind.RootPort : BridgePortKind.SwitchDownstreamPort;
        var type = isRootPort ? PciePortType.RootPort : PciePortType.SwitchDownstreamPort;
        var f = new BridgeFunction(p.Name, p.Identity, kind, loggerFactory.CreateLogger($"PcieVirt.Port.{p.Name}"));
        bool occupied = p.Downstream is not null;
        var hp = p.HotPlug;
        f.AddCapability(new PowerManagementCapability(new PowerManagementOptions { PmeSupport = PmeSupport.D0 | PmeSupport.D3Hot | PmeSupport.D3Cold }));
        // Ports signal hot-plug and PME events with MSI (§6.7.3.4).
        f.AddCapability(new MsiCapability(new MsiOptions { VectorsRequested = 1, Address64 = true }));
        f.AddCapability(new PciExpressCapability(new PciExpressOptions
        {
            PortType = type,
            MaxPayloadSizeSupported = 512,
            MaxLinkSpeed = (PcieLinkSpeed)p.Link.Generation,
            MaxLinkWidth = p.Link.Width,
            LinkSpeed = occupied ? (PcieLinkSpeed)TrainedGeneration(p) : PcieLinkSpeed.Gt2_5,
            LinkWidth = occupied ? TrainedWidth(p) : 0,
            PortNumber = (byte)portNumber,
            DataLinkLayerActiveReporting = true,
            LinkBandwidthNotification = true,
            SurpriseDownErrorReporting = hp?.Surprise ?? false,
            SlotImplemented = p.Slot is not null,
            PhysicalSlotNumber = p.Slot ?? 0,
            HotPlugCapable = hp is not null,
            HotPlugSurprise = hp?.Surprise ?? false,
            AttentionButtonPresent = hp?.AttentionButton ?? false,
            PowerControllerPresent = hp?.PowerController ?? false,
            MrlSensorPresent = hp?.MrlSensor ?? false,
            AttentionIndicatorPresent = hp?.AttentionIndicator ?? false,
            PowerIndicatorPresent = hp?.PowerIndicator ?? false,
            CardPresent = occupied,
            AriForwardingSupported = p.AriForwarding,
        }));
        f.AddCapability(new AerCapability(new AerOptions { PortType = type }));
        if (p.Acs is { } acs) f.AddCapability(Acs(acs));
        f.Seal();
        return f;
    }

    /// <summary>A switch's upstream port.</summary>
    public BridgeFunction SwitchUpstreamPort(SwitchModel s, LinkModel parentLink)
    {
        var f = new BridgeFunction(s.Name, s.Identity, BridgePortKind.SwitchUpstreamPort, loggerFactory.CreateLogger($"PcieVirt.Port.{s.Name}"));
        f.AddCapability(new PowerManagementCapability(new PowerManagementOptions { PmeSupport = PmeSupport.D0 | PmeSupport.D3Hot }));
        f.AddCapability(new PciExpressCapability(new PciExpressOptions
        {
            PortType = PciePortType.SwitchUpstreamPort,
            MaxPayloadSizeSupported = 512,
            MaxLinkSpeed = (PcieLinkSpeed)s.Link.Generation,
            MaxLinkWidth = s.Link.Width,
            LinkSpeed = (PcieLinkSpeed)Math.Min(s.Link.Generation, parentLink.Generation),
            LinkWidth = Math.Min(s.Link.Width, parentLink.Width),
        }));
        f.AddCapability(new AerCapability(new AerOptions { PortType = PciePortType.SwitchUpstreamPort }));
        f.Seal();
        return f;
    }

    static PciExpressOptions EndpointExpressOptions(PcieCapabilityModel pcie, PciePortType type, LinkModel? link) => new()
    {
        PortType = type,
        MaxPayloadSizeSupported = pcie.MaxPayload,
        ExtendedTagSupported = pcie.ExtendedTag,
        FlrCapable = pcie.Flr,
        // An integrated endpoint has no link; one below a port reports the link it trained on.
        MaxLinkSpeed = link is null ? PcieLinkSpeed.Gt2_5 : (PcieLinkSpeed)link.Generation,
        MaxLinkWidth = link?.Width ?? 1,
        L0sAcceptableLatency = 7,
        L1AcceptableLatency = 7,
    };

    /// <summary>
    /// The SR-IOV capability's options from the model (§9.3.3). The model's First VF Offset and VF Stride are
    /// fixed values (those reported with ARI Capable Hierarchy set and NumVFs = TotalVFs), so they replace
    /// the default rule.
    /// </summary>
    static SriovOptions SriovOptions(SriovModel iov, int pfIndex, int pfCount) => new()
    {
        TotalVfs = (ushort)iov.TotalVfs,
        InitialVfs = (ushort)iov.InitialVfs,
        VfDeviceId = iov.VfDeviceId,
        FirstVfOffset = (ushort)iov.FirstVfOffset,
        VfStride = (ushort)iov.VfStride,
        SupportedPageSizes = iov.SupportedPageSizes,
        FunctionDependencyLink = (byte)iov.FunctionDependencyLink,
        VfMigrationCapable = iov.VfMigration,
        VfBars = iov.VfBars,
        VfMsix = iov.VfMsix is { } x ? new MsixOptions(x.TableSize, x.TableBar, x.TableOffset, x.PbaBar, x.PbaOffset) : null,
        PfIndex = pfIndex,
        PfCount = pfCount,
    };

    static AcsCapability Acs(AcsModel acs) => new(new AcsOptions
    {
        Supported = acs.Features,
        EgressControlVectorSize = acs.EgressControlVectorSize,
    });

    /// <summary>The speed a link trains to: the lower of the two ends' maxima.</summary>
    static int TrainedGeneration(PortModel p) => p.Downstream switch
    {
        SwitchModel s => Math.Min(p.Link.Generation, s.Link.Generation),
        _ => p.Link.Generation,
    };

    static int TrainedWidth(PortModel p) => p.Downstream switch
    {
        SwitchModel s => Math.Min(p.Link.Width, s.Link.Width),
        _ => p.Link.Width,
    };
}

/// <summary>
/// The PFs of one device (functions with an SR-IOV capability, by function number): gives each its
/// PfIndex / PfCount and makes every PF follow the lowest-numbered PF's ARI Capable Hierarchy
/// (§9.3.3.3.5), whatever order the functions are built in.
/// </summary>
internal sealed class SriovDevice
{
    readonly List<int> _numbers;
    readonly List<SriovCapability> _pending = [];
    SriovCapability? _lowest;

    public SriovDevice(IEnumerable<FunctionModel> functions) =>
        _numbers = functions.Where(f => f.Capabilities.Sriov != null).Select(f => f.Number).Order().ToList();

    public int Count => Math.Max(1, _numbers.Count);
    public int IndexOf(FunctionModel f) => Math.Max(0, _numbers.IndexOf(f.Number));

    public void Add(SriovCapability cap)
    {
        if (cap.IsLowestPf)
        {
            _lowest = cap;
            foreach (var p in _pending) p.FollowAriCapableHierarchyOf(cap);
            _pending.Clear();
        }
        else if (_lowest != null) cap.FollowAriCapableHierarchyOf(_lowest);
        else _pending.Add(cap);
    }
}
