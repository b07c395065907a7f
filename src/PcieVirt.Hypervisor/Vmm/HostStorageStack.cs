using PcieVirt.Devices.Driver;
using PcieVirt.Devices.Nvme;
using PcieVirt.Hypervisor.Guest;
using PcieVirt.Hypervisor.Sim;
using PcieVirt.Hypervisor.Storage;
using PcieVirt.Hypervisor.Timing;

namespace PcieVirt.Hypervisor.Vmm;

/// <summary>
/// The hypervisor's storage stack on the software paths: its own NVMe driver on the RAID controller's PF,
/// the host block layer on one I/O queue, a VMFS-like file system formatted on the volume's namespace, and a
/// guest's virtual disk as a file on it. The PF's completion interrupt wakes the VMM thread that reaps it.
/// It also keeps the device-side time of each PF command (link, firmware, media) so a guest request can be
/// charged with the time its host command spent in the device.
/// </summary>
public sealed class HostStorageStack : INvmeCommandObserver
{
    readonly DeviceTime[] _deviceTime = new DeviceTime[65536]; // by CID of the PF command
    readonly ulong _firmwareNs, _msiFlightNs;

    /// <summary>Builds the stack on <paramref name="host"/>'s PF for a disk of <paramref name="diskBytes"/> bytes, completions to <paramref name="sink"/>.</summary>
    public HostStorageStack(BenchHost host, ulong diskBytes, int depth, IVirtualDiskCompletion sink)
    {
        var volume = host.Device.Engine.FindVolume(host.Volume)!;
        if (!host.Device.AttachmentsOf(volume).Contains(0))
        {
            var r = host.Device.Attach(host.Volume, 0);
            if (!r.IsSuccess) throw new InvalidOperationException($"attaching {host.Volume} to the PF: {r.Error}");
        }
        Bus = host.HostBus(host.PfAddress);
        Driver = host.PfDriver(Bus, host.HostAllocator(), Math.Max(64, 2 * depth + 2));
        Layer = new HostBlockLayer(Driver, host.Device.NamespaceOf(volume));
        // Set up while the controller still completes at once (before timed mode): format, create the disk.
        Vmfs = Vmfs.Format(new HostBlockDevice(Layer), new VmfsFormatOptions { Label = "datastore1" });
        File = Vmfs.Create("vm0-flat.vmdk", diskBytes, thin: false);
        Disk = new VirtualDisk(File, Layer, host.RootComplex.HostMemory, sink, new VirtualDiskOptions { MaxOutstanding = Math.Max(32, depth) });
        _firmwareNs = host.Timing[TimingParameter.ControllerFirmware];
        _msiFlightNs = host.Timing[TimingParameter.PostedWriteLatency];
        host.Time(host.Device.Primary);
        host.Device.Primary.Observer = this;
    }

    /// <summary>The hypervisor's bus to the PF (its doorbells are posted writes on the VMM thread's timeline).</summary>
    public PcieVirt.Hypervisor.Vmm.HostTimedBus Bus { get; }
    public NvmeDriver Driver { get; }
    public HostBlockLayer Layer { get; }
    public Vmfs Vmfs { get; }
    public VmfsFile File { get; }
    public VirtualDisk Disk { get; }

    /// <summary>Charges the device time of the PF command being completed now (inside a Poll) to <paramref name="slot"/>.</summary>
    public void ChargeCompletedCommand(LatencyBreakdown breakdown, int slot)
    {
        _deviceTime[Layer.LastCompletedCommandId].Charge(breakdown, slot, _msiFlightNs);
    }

    void INvmeCommandObserver.OnCommandCompleted(in NvmeCommandRecord r)
    {
        var time = _deviceTime[r.CommandId] = DeviceTime.Of(r, _firmwareNs);
        if (Trace is { } trace) time.Trace(trace, r, -1);
    }

    /// <summary>Where the PF's device-side steps are recorded (null: not recorded).</summary>
    public PathTrace? Trace { get; set; }

    /// <summary>Splits guest-physical [<paramref name="gpa"/>, +<paramref name="length"/>) into host segments at page boundaries.</summary>
    public static int HostSegments(VirtualMachine vm, ulong gpa, int length, Span<HostSegment> into)
    {
        int n = 0;
        while (length > 0)
        {
            int piece = (int)Math.Min((ulong)length, 4096 - (gpa & 4095));
            if (!vm.Memory.TryGetHostAddress(gpa, out ulong hpa) || n == into.Length) return -1;
            if (n > 0 && into[n - 1].Address + (ulong)into[n - 1].Length == hpa)
                into[n - 1] = new HostSegment(into[n - 1].Address, into[n - 1].Length + piece);
            else into[n++] = new HostSegment(hpa, piece);
            gpa += (ulong)piece;
            length -= piece;
        }
        return n;
    }
}
