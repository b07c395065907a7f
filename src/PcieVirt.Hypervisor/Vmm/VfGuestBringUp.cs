using PcieVirt.Devices.Driver;
using PcieVirt.Devices.Nvme;
using PcieVirt.Devices.RaidController;
using PcieVirt.Fabric;
using PcieVirt.Hypervisor.Guest;
using PcieVirt.Hypervisor.Sim;
using PcieVirt.Hypervisor.Timing;
using PcieVirt.Pci.Capabilities;

namespace PcieVirt.Hypervisor.Vmm;

/// <summary>A guest running on a host's hypervisor with one VF of a RAID controller PF assigned.</summary>
internal sealed record VfGuest(VirtualMachine Vm, AssignedFunction Assigned, NvmeController VfController, NvmeDriver Driver,
    NvmeFrontend Frontend, CpuTimeline Cpu, PcieVirt.Hypervisor.Iommu.Iommu Iommu);

/// <summary>
/// What one host does to give a guest a VF (as <c>Paths/VfPath</c> does for the single-host bench): the
/// host's PF driver brings the PF up, SR-IOV is enabled through the host OS, the VF's secondary controller
/// is provisioned and brought online, the hypervisor puts an IOMMU in front of the host's DMA, creates the
/// VM and assigns the VF; the guest's NVMe driver then initialises the VF through its own view. Used by the
/// VF path of <c>bench paths</c> and by both hosts of the failover scenario.
/// </summary>
internal static class VfGuestBringUp
{
    /// <summary>Unit of guest I/O the failover scenario uses (bytes).</summary>
    public const int DefaultIoBytes = 4096;

    public static VfGuest Start(BenchHost b, int pfIndex, int vfNumber, string vmName, int depth, ulong guestMemory = 64UL << 20,
        int ioBytes = DefaultIoBytes, string? cpuName = null)
    {
        var t = b.Timing;
        var pfBus = b.HostBus(b.PfAddress);
        var pfDriver = b.PfDriver(pfBus, b.HostAllocator(16UL << 20), 64);
        var sriov = b.Pf.FindCapability<SriovCapability>() ?? throw new InvalidOperationException($"{b.Pf.Name} has no SR-IOV capability");
        var os = b.Host.Os.EnableVfs(b.PfAddress, Math.Max(vfNumber, sriov.NumVfs));
        if (os.Error != PcieVirt.Platform.HostOs.LinuxErrno.None) throw new InvalidOperationException($"{b.Host.Name}: enabling VFs of {b.Pf.Name}: {os.Message}");
        ushort cntlid = RaidControllerDevice.ControllerIdOf(pfIndex, vfNumber);
        Provision(pfDriver, cntlid, action: 7, resource: 0, count: 0); // offline before assigning
        Provision(pfDriver, cntlid, action: 8, resource: 0, count: 2); // VQ: admin + one I/O queue
        Provision(pfDriver, cntlid, action: 8, resource: 1, count: 2); // VI: admin + one I/O vector
        Provision(pfDriver, cntlid, action: 9, resource: 0, count: 0); // online
        var vf = sriov.VirtualFunctions[vfNumber - 1];
        var vfAddress = new PciAddress(b.RootComplex.Segment, vf.Bdf);
        var vfController = ((NvmeVirtualFunction)vf).Controller;

        var iommu = PcieVirt.Hypervisor.Iommu.Iommu.FromTiming(t);
        b.RootComplex.Iommu = iommu;
        iommu.AttachPassThrough(b.Pf.Bdf); // the host's own PF keeps identity DMA
        var vm = new VirtualMachine(vmName, b.RootComplex.HostMemory, b.CarveRam(guestMemory), guestMemory);
        var assigned = new AssignedFunction(b, vm, iommu, vfAddress, t.IsSet(TimingParameter.PostedInterrupts));
        var guestDriver = new NvmeDriver(assigned, vm.Allocator, new NvmeDriverOptions
        {
            IoQueueEntries = Math.Max(64, depth + 1),
            Clock = () => b.RootComplex.Clock.Now,
            AdvanceClock = b.RootComplex.Clock.Advance,
        });
        guestDriver.Initialize();
        b.Time(vfController);
        var volume = b.Device.Engine.FindVolume(b.Volume) ?? throw new InvalidOperationException($"no volume '{b.Volume}'");
        var fe = new NvmeFrontend(vmName, guestDriver, assigned, depth, ioBytes, b.Device.NamespaceOf(volume));
        var cpu = new CpuTimeline(new SerialActor(cpuName ?? $"{vmName}.vcpu0", isHostCpu: false), new LatencyBreakdown(depth));
        return new VfGuest(vm, assigned, vfController, guestDriver, fe, cpu, iommu);
    }

    static void Provision(NvmeDriver pf, ushort cntlid, int action, int resource, int count)
    {
        var c = pf.ExecuteAdmin(new NvmeSubmission
        {
            Opcode = NvmeAdminOpcode.VirtualizationManagement,
            Cdw10 = (uint)action | (uint)resource << 8 | (uint)cntlid << 16,
            Cdw11 = (uint)count,
        });
        // Offline of a controller already offline is fine; anything else must succeed.
        if (!c.Status.IsSuccess && action != 7)
            throw new InvalidOperationException($"Virtualization Management (action {action}) for controller {cntlid}: {c.Status}");
    }
}
