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
        int vfNumber = b.VfNumber;
        if (vfNumber == 0)
        {
            vfNumber = 1;
            var r = b.Device.Attach(b.Volume, vfNumber);
            if (!r.IsSuccess) throw new InvalidOperationException($"attaching {b.Volume} to VF {vfNumber}: {r.Error}");
        }

        // The host's PF driver provisions the VF; the hypervisor assigns it to a VM; the guest's driver brings it up.
        var g = VfGuestBringUp.Start(b, pfIndex: 0, vfNumber, "vm0", o.Workload.IoDepth, o.GuestMemoryBytes, o.Workload.BlockSize, cpuName: "vcpu0");
        var (vm, assigned, vfController, guestDriver, fe, cpu, iommu) = (g.Vm, g.Assigned, g.VfController, g.Driver, g.Frontend, g.Cpu, g.Iommu);
        bool posted = assigned.PostedInterrupts;
        fe.ChargeDeviceTime(cpu.Breakdown, t[TimingParameter.ControllerFirmware]);
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
}
