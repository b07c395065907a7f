using Microsoft.Extensions.Logging;
using PcieVirt.Pci.Capabilities;
using PcieVirt.Pci.Functions;

namespace PcieVirt.Devices.Nvme;

/// <summary>
/// A physical function (Type 0 endpoint) whose BAR is served by an <see cref="NvmeController"/>. The
/// constructor defines the register BAR and adds the MSI-X capability (unless given other options);
/// add further capabilities (PCI Express, power management, SR-IOV…) and then <see cref="PciFunction.Seal"/>.
/// Class code defaults to a RAID controller (01 04 00); NVMe's (01 08 02) is a model choice.
/// </summary>
public class NvmeEndpointFunction : EndpointFunction
{
    public NvmeEndpointFunction(string name, FunctionIdentity identity, NvmeControllerOptions options, NvmeSubsystem subsystem, ILogger? logger = null)
        : base(name, identity, logger)
    {
        Controller = new NvmeController(options, subsystem, logger);
        Controller.Attach(this);
    }

    /// <summary>
    /// Like the public constructor, but when <paramref name="attachLater"/> is true the controller is bound to
    /// the BAR only by <see cref="AttachController"/>, so a builder can first add capabilities (MSI-X among
    /// them) in the order a device model names them.
    /// </summary>
    protected NvmeEndpointFunction(string name, FunctionIdentity identity, NvmeControllerOptions options, NvmeSubsystem subsystem, ILogger? logger, bool attachLater)
        : base(name, identity, logger)
    {
        Controller = new NvmeController(options, subsystem, logger);
        if (!attachLater) Controller.Attach(this);
    }

    /// <summary>Binds the controller to this function's BAR (after a deferred construction, before sealing).</summary>
    public void AttachController() => Controller.Attach(this);

    /// <summary>Class code of a RAID bus controller (base 01h, sub-class 04h).</summary>
    public const uint RaidClassCode = 0x010400;
    /// <summary>Class code of an NVM Express controller (base 01h, sub-class 08h, interface 02h).</summary>
    public const uint NvmeClassCode = 0x010802;

    public NvmeController Controller { get; }

    /// <summary>An FLR, hot or cold reset resets the controller with the function (§6.6.2).</summary>
    protected override void OnReset(ResetKind kind) => Controller.OnFunctionReset(kind);
}

/// <summary>
/// An SR-IOV virtual function hosting a secondary <see cref="NvmeController"/> (create it from the PF's
/// <see cref="SriovCapability.VirtualFunctionFactory"/>). Its BAR comes from the PF's VF BAR and its MSI-X
/// capability from <see cref="SriovOptions.VfMsix"/>; the controller leaves the subsystem when the VF is destroyed.
/// </summary>
public class NvmeVirtualFunction : VirtualFunction
{
    public NvmeVirtualFunction(SriovCapability sriov, int vfIndex, NvmeControllerOptions options, NvmeSubsystem subsystem, ILogger? logger = null)
        : base(sriov, vfIndex, standardCapabilities: true, logger)
    {
        if (!options.IsSecondary) throw new ArgumentException("a VF hosts a secondary controller (IsSecondary)", nameof(options));
        Controller = new NvmeController(options, subsystem, logger ?? sriov.Function.Logger);
        Controller.Attach(this);
        sriov.VfsDisabled += OnVfsDisabled;
    }

    public NvmeController Controller { get; }

    protected override void OnReset(ResetKind kind) => Controller.OnFunctionReset(kind);

    void OnVfsDisabled(SriovCapability sriov, IReadOnlyList<VirtualFunction> removed)
    {
        foreach (var vf in removed)
        {
            if (vf != this) continue;
            sriov.VfsDisabled -= OnVfsDisabled;
            Controller.LeaveSubsystem();
            return;
        }
    }
}
