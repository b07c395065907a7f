namespace PcieVirt.Devices.Nvme.Qos;

/// <summary>
/// Decides when a controller's I/O commands are fetched. A controller with an arbiter fetches admin
/// commands itself but leaves I/O commands in their submission queues and reports that it has work;
/// the arbiter later grants fetches (see <see cref="QosArbiter"/>).
/// </summary>
public interface ICommandArbiter
{
    /// <summary><paramref name="controller"/> has I/O commands waiting in its submission queues.</summary>
    void OnWork(NvmeController controller);
}
