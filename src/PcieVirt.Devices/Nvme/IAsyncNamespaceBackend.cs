namespace PcieVirt.Devices.Nvme;

/// <summary>One contiguous piece of a command's data buffer in the controller's host memory.</summary>
public readonly record struct DmaSegment(ulong Address, int Length);

/// <summary>A read or write a controller hands to an <see cref="IAsyncNamespaceBackend"/>.</summary>
/// <param name="Controller">The controller to report completion to (<see cref="NvmeController.CompleteAsync"/>).</param>
/// <param name="Tag">Identifies the command to <see cref="NvmeController.CompleteAsync"/>.</param>
/// <param name="Write">Write (data flows from the segments to the backend) or read.</param>
/// <param name="Lba">First logical block.</param>
/// <param name="Blocks">Logical blocks.</param>
/// <param name="ForceUnitAccess">The data must be durable before completion (FUA, or no volatile write cache).</param>
/// <param name="SqId">Submission queue the command came from.</param>
/// <param name="CommandId">The command's CID (how the host that submitted it knows it).</param>
public readonly record struct NvmeAsyncIo(NvmeController Controller, int Tag, bool Write, ulong Lba, int Blocks, bool ForceUnitAccess,
    ushort SqId, ushort CommandId);

/// <summary>
/// A namespace backend that completes reads and writes later, moving the data itself between its store
/// and the command's host segments: a hypervisor's device model whose storage is a virtual disk file
/// served through the host's own I/O stack. The controller maps and checks the PRPs, reserves the
/// completion slot, and posts the completion when the backend calls <see cref="NvmeController.CompleteAsync"/>.
/// Other commands (flush, write zeroes, deallocate) still use the synchronous members.
/// </summary>
public interface IAsyncNamespaceBackend : INamespaceBackend
{
    /// <summary>
    /// Starts <paramref name="io"/> over <paramref name="segments"/> (valid only during the call: copy what
    /// must be kept). False when the backend cannot take it; the command then completes Namespace Not Ready.
    /// </summary>
    bool TryStart(in NvmeAsyncIo io, ReadOnlySpan<DmaSegment> segments);
}
