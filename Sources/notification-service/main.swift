import NotificationService
import ServiceKit

await ServiceHost.main(NotificationService.self)
