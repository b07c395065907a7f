using PcieVirt.Devices.Driver;
using PcieVirt.Devices.Nvme;
using PcieVirt.Fabric;
using PcieVirt.Hypervisor.Guest;
using PcieVirt.Hypervisor.Sim;
using PcieVirt.Hypervisor.Timing;
using PcieVirt.Hypervisor.Vmm;
using PcieVirt.Pci.Capabilities;
using PcieVirt.Platform.Model;

namespace PcieVirt.Hypervisor.Paths;

/// <summary>
/// Direct assignment (the bypass path): the host's PF driver enables SR-IOV and provisions a VF (queue and
/// interrupt resources, online); the hypervisor assigns the VF to a guest (BAR through the EPT, DMA through
/// an IOMMU domain, MSI-X through interrupt remapping, posted into the vCPU); the guest's own NVMe driver
/// then drives the VF. Doorbells are plain stores with no exit; the hypervisor is involved only when the
/// vCPU halts and must be woken.
/// </summary>
internal static class VfPath
{
    public static PathSession Open(PlatformModel model, PathOptions o)
    {
        var b = BenchHost.Boot(model, o);
        var t = o.Timing;
        var volume = b.Device.Engine.FindVolume(b.Volume)!;
        int vfNumber = b.VfNumber;
        if (vfNumber == 0)
        {
            vfNumber = 1;
            var r = b.Device.Attach(b.Volume, vfNumber);
            if (!r.IsSuccess) throw new InvalidOperationException($"attaching {b.Volume} to VF {vfNumber}: {r.Error}");
        }

        // The host: its PF driver, SR-IOV enabled the Linux way, the VF's secondary controller provisioned.
        var pfBus = b.HostBus(b.PfAddress);
        var pfDriver = b.PfDriver(pfBus, b.HostAllocator(16UL << 20), 64);
        var os = b.Host.Os.EnableVfs(b.PfAddress, Math.Max(vfNumber, b.Pf.FindCapability<SriovCapability>()!.NumVfs));
        if (os.Error != PcieVirt.Platform.HostOs.LinuxErrno.None) throw new InvalidOperationException($"enabling VFs: {os.Message}");
        ushort cntlid = PcieVirt.Devices.RaidController.RaidControllerDevice.VfControllerId(vfNumber);
        Provision(pfDriver, cntlid, action: 7, resource: 0, count: 0); // offline before assigning
        Provision(pfDriver, cntlid, action: 8, resource: 0, count: 2); // VQ: admin + one I/O queue
        Provision(pfDriver, cntlid, action: 8, resource: 1, count: 2); // VI: admin + one I/O vector
        Provision(pfDriver, cntlid, action: 9, resource: 0, count: 0); // online
        var sriov = b.Pf.FindCapability<SriovCapability>()!;
        var vf = sriov.VirtualFunctions[vfNumber - 1];
        var vfAddress = new PciAddress(b.RootComplex.Segment, vf.Bdf);
        var vfController = ((NvmeVirtualFunction)vf).Controller;

        // The hypervisor: an IOMMU, a VM, the VF assigned to it.
        var iommu = PcieVirt.Hypervisor.Iommu.Iommu.FromTiming(t);
        b.RootComplex.Iommu = iommu;
        iommu.AttachPassThrough(b.Pf.Bdf); // the host's own PF keeps identity DMA
        var vm = new VirtualMachine("vm0", b.RootComplex.HostMemory, b.CarveRam(o.GuestMemoryBytes), o.GuestMemoryBytes);
        bool posted = t.IsSet(TimingParameter.PostedInterrupts);
        var assigned = new AssignedFunction(b, vm, iommu, vfAddress, posted);

        // The guest: its NVMe driver brings the VF up through its own view (guest-physical addresses).
        var guestDriver = new NvmeDriver(assigned, vm.Allocator, new NvmeDriverOptions
        {
            IoQueueEntries = Math.Max(64, o.Workload.IoDepth + 1),
            Clock = () => b.RootComplex.Clock.Now,
            AdvanceClock = b.RootComplex.Clock.Advance,
        });
        guestDriver.Initialize();
        b.Time(vfController, Transport.For(t));
        var fe = new NvmeFrontend("vf", guestDriver, assigned, o.Workload.IoDepth, o.Workload.BlockSize, b.Device.NamespaceOf(volume));
        var breakdown = new LatencyBreakdown(o.Workload.IoDepth);
        var cpu = new CpuTimeline(new SerialActor("vcpu0", isHostCpu: false), breakdown);
        fe.ChargeDeviceTime(breakdown, t[TimingParameter.ControllerFirmware]);
        vfController.Observer = fe;
        var w = new BlockWorkload(b.Engine, cpu, fe, o.Workload, t);
        w.Progress = o.Progress;
        var irq = new GuestInterrupts(b.Engine, vm, t);
        fe.OnAfterReap = irq.Acknowledge;
        fe.OnIdle = GuestInterrupts.Halt;
        var q = guestDriver.IoQueue(1);
        if (posted) vm.PostedInterrupts.Notification += _ => irq.Deliver(w, cpu, q.HostVector, posted: true);
        else
        {
            byte hostVector = assigned.HostVector(q.MsixEntry);
            b.RootComplex.InterruptController.MessageReceived += m =>
            {
                if (m.Vector == hostVector) irq.Deliver(w, cpu, assigned.GuestVector(q.MsixEntry), posted: false);
            };
        }
        // Bring-up completions (admin queue) were posted while the driver polled: take them now, as the
        // guest's first interrupt handler would, so the descriptor's outstanding-notification bit is clear.
        vm.PostedInterrupts.SyncTo(vm.Apic);
        while (vm.Apic.HasDeliverable) { vm.Apic.Acknowledge(); vm.Apic.Eoi(); }
        iommu.ResetCounters();
        cpu.Trace = fe.Trace = o.Trace;
        w.MeasurementStarted += () => { cpu.ResetCounters(); iommu.ResetCounters(); o.Trace?.Clear(); };
        return new PathSession(PathKind.Vf, b.Engine, w, cpu, [], () => new Dictionary<string, long>
        {
            ["doorbell_writes"] = b.Posted.Delivered,
            ["interrupts"] = irq.Delivered,
            ["iotlb_hits"] = iommu.IotlbHits,
            ["iotlb_misses"] = iommu.IotlbMisses,
            ["iommu_faults"] = iommu.TotalFaults,
            ["interrupts_posted"] = iommu.InterruptsPosted,
            ["msix_table_exits"] = assigned.TableExits,
        }, () => $"VF run stalled: requests outstanding but nothing scheduled (VF controller: {vfController.CommandsInFlight} in flight, fatal={vfController.IsFatal}; IOMMU faults {iommu.TotalFaults}, last {iommu.LastFault}; posted {iommu.InterruptsPosted}, remapped {iommu.InterruptsRemapped}, passed {iommu.InterruptsPassedThrough}, blocked {iommu.InterruptsBlocked}; doorbells {b.Posted.Delivered})");
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
