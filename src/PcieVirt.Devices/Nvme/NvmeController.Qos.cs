using PcieVirt.Devices.Nvme.Qos;

namespace PcieVirt.Devices.Nvme;

// Per-controller QoS set by the primary controller (our extension: NVMe defines no per-controller rate
// limits). The PF configures itself and its secondary controllers through ConfigureQos or the
// vendor-specific admin command Set Controller QoS (C0h); see spec-notes/qos.md.
public sealed partial class NvmeController
{
    /// <summary>Opcode of the vendor-specific admin command Set Controller QoS (our extension, in the C0h-FFh vendor range).</summary>
    public const byte SetControllerQosOpcode = 0xC0;

    /// <summary>
    /// The primary controller sets the QoS limits of <paramref name="controllerId"/> (itself or one of its
    /// secondary controllers) in the subsystem's <see cref="QosArbiter"/>. Returns the NVMe status:
    /// Invalid Controller Identifier for any other controller, Invalid Field when this controller is not a
    /// primary under an arbiter, the target is not arbitrated, or the limits are invalid.
    /// </summary>
    public NvmeStatus ConfigureQos(ushort controllerId, QosLimits limits)
    {
        if (!IsPrimary || Arbiter is not QosArbiter q) return NvmeStatus.InvalidFieldInCommand;
        bool mine = controllerId == ControllerId;
        foreach (var s in _secondaries) mine |= s.ControllerId == controllerId;
        if (!mine) return NvmeStatus.InvalidControllerIdentifier;
        if (limits.Validate() != null || q.LimitsOf(controllerId) == null) return NvmeStatus.InvalidFieldInCommand;
        q.Configure(controllerId, limits);
        return NvmeStatus.Success;
    }

    /// <summary>
    /// Set Controller QoS (C0h): CDW10[15:0] target CNTLID, CDW11 IOPS limit, CDW12 bandwidth limit in
    /// KiB/s, CDW13[7:0] weight (0 means 1); a limit of 0 means unlimited.
    /// </summary>
    void SetControllerQos(in NvmeCommand cmd)
    {
        ushort target = (ushort)cmd.Cdw10;
        int weight = (int)(cmd.Cdw13 & 0xFF);
        var limits = new QosLimits(cmd.Cdw11, (ulong)cmd.Cdw12 * 1024, weight == 0 ? 1 : weight);
        var status = ConfigureQos(target, limits);
        if (!status.IsSuccess) Log.QosRefused(_log, _name, target, status == NvmeStatus.InvalidControllerIdentifier ? "not this primary's controller" : "not arbitrated or invalid limits");
        if (!status.IsSuccess) Fail(status, $"Set Controller QoS for controller {target} refused", status == NvmeStatus.InvalidControllerIdentifier ? 40 : -1);
    }
}
